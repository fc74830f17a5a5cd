"""Edge worker config (edge.yaml); the keys other programs rely on are in ARCHITECTURE.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from edge.elevator.config import ElevatorConfig
from edge.partition import PartitionConfig
from ingest.config import MqttConfig, Section, TimeSeriesConfig, check_listen, check_url, relative_to_config
from ingest.registry import Registry
from ingest.yamlconf import ConfigError, format_errors, load_yaml, located, validate_file
from rules.water.thresholds import Profile, WaterThresholds, resolve


class DispatchClientConfig(Section):
    url: str = "http://127.0.0.1:8600/api/v1/alerts"
    token_env: str = "GRIDWATCH_TOKEN"
    timeout_s: float = Field(10.0, gt=0, le=300)
    retry_initial_s: float = Field(0.5, gt=0, le=60)
    retry_max_s: float = Field(60.0, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_url(value, ("http", "https"), "http://host:8600/api/v1/alerts") or value


class IngestConfig(Section):
    max_future_skew_s: float = Field(
        300.0, ge=0, description="readings further ahead of the wall clock are rejected"
    )
    earliest_ts: str = Field("2000-01-01T00:00:00Z", description="readings before this are rejected")
    max_lateness_h: float = Field(
        24.0 * 30, gt=0, description="readings this far behind the fleet watermark are dead letters"
    )
    max_unregistered_meters: int = Field(
        1000, ge=0, description="meters not in the registry processed at once; readings of more are dead letters"
    )
    unregistered_meter_expire_h: float = Field(
        48.0, gt=0, description="a meter not in the registry whose last reading is this far behind the fleet "
        "watermark, with no open alert, is forgotten (its state freed)"
    )


class MetricsConfig(Section):
    max_camera_labels: int = Field(
        256, ge=0, le=10_000,
        description="per-camera series for at most this many registered cameras; others count as camera=\"_other\"",
    )


class WaterRulesConfig(Section):
    allowed_lateness_s: float = Field(
        0.0, ge=0, description="the fleet watermark trails the newest event time by this much"
    )
    idle_advance_s: float = Field(
        60.0, gt=0,
        description="with no reading at all for this long (wall clock), the watermark moves on with the wall clock",
    )
    profiles: dict[Profile, dict[str, Any]] = Field(
        default_factory=dict, description="overrides of rules.water.thresholds per profile"
    )

    @field_validator("profiles")
    @classmethod
    def _profiles_valid(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        problems = []
        for profile, overrides in value.items():
            try:
                resolve(profile, overrides)
            except ValidationError as exc:
                problems += [f"{profile}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def thresholds(self, profile: str, meter_overrides: dict[str, Any] | None) -> WaterThresholds:
        return resolve(profile, self.profiles.get(profile), meter_overrides)

    def thresholds_for(self, registry: Registry) -> Callable[[str], WaterThresholds]:
        """meter id -> its thresholds (profile, then registry overrides), resolved once per meter.

        A meter missing from the registry is watched as if its resident lived alone: safer to ask.
        """
        cache: dict[str, WaterThresholds] = {}

        def lookup(meter_id: str) -> WaterThresholds:
            found = cache.get(meter_id)
            if found is None:
                meter = registry.meter(meter_id)
                found = self.thresholds(meter.profile if meter else "elderly_alone",
                                        meter.thresholds if meter else None)
                cache[meter_id] = found
            return found

        return lookup


class EdgeConfig(Section):
    edge_id: str = Field("edge-01", pattern=r"^[A-Za-z0-9_.-]+$")
    mqtt: MqttConfig = MqttConfig()
    dispatch: DispatchClientConfig = DispatchClientConfig()
    registry: Path | None = Field(None, description="registry YAML; relative to this file")
    state_dir: Path = Field(Path("var/edge-01"), description="outbox, rule state; relative to this file")
    timeseries: TimeSeriesConfig = TimeSeriesConfig()
    ingest: IngestConfig = IngestConfig()
    water: WaterRulesConfig = WaterRulesConfig()
    elevator: ElevatorConfig = ElevatorConfig()
    partition: PartitionConfig | None = Field(
        None, description="own a part of the fleet: {buildings: [...]} or {index, count} (edge/partition.py); "
        "null: every meter and camera, on the wildcard topics")
    health_listen: str | None = Field(
        "127.0.0.1:8610", pattern=r"^[^:\s]+:\d{1,5}$", description="/healthz, /status and /metrics; null: off"
    )
    metrics: MetricsConfig = MetricsConfig()

    @field_validator("health_listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return check_listen(value)

    @field_validator("registry", "state_dir")
    @classmethod
    def _relative_to_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return relative_to_config(value, info)


def load_registry(path: Path | None) -> Registry:
    """The registry at `path`, an empty one when none is configured."""
    if path is None:
        return Registry()
    registry = validate_file(Registry, path, context={"references": "deferred"})
    _, lines = load_yaml(path)
    errors = [located(path, lines, loc, message) for loc, message in registry.reference_problems()]
    errors += _threshold_errors(path, lines, registry)
    if errors:
        raise ConfigError(errors)
    return registry


def _threshold_errors(path: Path, lines: dict, registry: Registry) -> list[str]:
    errors: list[str] = []
    for i, meter in enumerate(registry.meters):
        try:
            resolve(meter.profile, meter.thresholds)
        except ValidationError as exc:
            errors += format_errors(path, lines, exc, prefix=("meters", i, "thresholds"), model=WaterThresholds)
    return errors


def load_edge_config(path: str | Path | None) -> EdgeConfig:
    """The config at `path`, or the embedded defaults (for the demo) when None."""
    return EdgeConfig() if path is None else validate_file(EdgeConfig, path)
