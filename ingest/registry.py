"""The registry: who is where (grids, workers, buildings, meters, elevators).

The same shape is read from one YAML file by the edge and by dispatch.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Id = str
# The stream URLs a camera `source:` may name (read with OpenCV's FFmpeg backend by edge.elevator.sources).
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


_SECRET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def source_secrets(source: str | None) -> list[str]:
    """The environment variables a camera source names as `${NAME}` (its credentials)."""
    return _SECRET_REF.findall(source or "")


def expand_source(source: str) -> str:
    """The source with each `${NAME}` replaced by that secret (environment, or /run/secrets/NAME); the registry
    keeps the name only, so a camera's password is never written in it nor logged with the source."""
    from ingest.config import secret

    def value(match: re.Match[str]) -> str:
        found = secret(match.group(1))
        if found is None:
            raise ValueError(f"{match.group(1)} is not set (neither in the environment nor in /run/secrets)")
        return quote(found, safe="")

    return _SECRET_REF.sub(value, source)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Shift(_Strict):
    """Who of a grid is on duty when, in the dispatch's local time (dispatch.yaml `timezone`).

    `start` after `end` runs over midnight (22:00-06:00); its days are the days it starts on."""

    workers: list[Id]
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    start: str = Field("00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field("24:00", pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")


class Grid(_Strict):
    id: Id
    name: str = ""
    workers: list[Id] = Field(default_factory=list)
    leader: Id | None = None
    # Not in the contract's list, optional: the duty roster (no roster: every worker of the
    # grid is on duty at all times) and the community station that missed deadlines go to
    # after the leader.
    duty: list[Shift] = Field(default_factory=list)
    station: Id | None = None


class Station(_Strict):
    """A community station (社区工作站): told when a grid's leader has let a deadline pass too."""

    id: Id
    name: str = ""
    workers: list[Id] = Field(default_factory=list, description="staff told on their phones")
    channels: list[str] = Field(default_factory=list, description="apprise URLs of the station itself")


class Worker(_Strict):
    id: Id
    name: str = ""
    phone: str | None = None
    channels: list[str] = Field(default_factory=list, description="apprise URLs")
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class Building(_Strict):
    id: Id
    name: str = ""
    grid: Id | None = None


class Meter(_Strict):
    id: Id
    building: Id | None = None
    household: str | None = None
    profile: Literal["elderly_alone", "standard"] = "elderly_alone"
    # Per-meter overrides of the water rules' parameters (rules.water.thresholds); checked
    # against that model by `gridwatch check` and by the edge when it starts.
    thresholds: dict[str, Any] | None = None


class Elevator(_Strict):
    id: Id
    building: Id | None = None
    source: str | None = Field("mqtt", description="mqtt (frames over the broker), a stream URL "
                               "(rtsp://, rtsps://, rtmp://, http(s)://, udp://, tcp://), a video file or an image "
                               "folder")
    # The car's floor polygon in normalised image coordinates (rules.elevator.zone); None: the whole frame.
    zone: list[tuple[float, float]] | None = None

    @field_validator("source")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", value or "")
        if scheme is not None and re.match(r"^[^/]+//[^/@]*:(?!\$\{)[^/@]+@", value or ""):
            raise ValueError("a password written in the registry: name it instead, e.g. "
                             "rtsp://viewer:${CAM_EL1_PASSWORD}@10.0.0.31:554/stream1 (from the environment or "
                             "/run/secrets)")
        if scheme is None or f"{scheme.group(1).lower()}://" in (*STREAM_SCHEMES, "mqtt://", "mqtts://"):
            return value
        known = [s.removesuffix("://") for s in STREAM_SCHEMES]
        close = sorted(difflib.get_close_matches(scheme.group(1).lower(), known, n=2, cutoff=0.7), key=len)
        hint = f"did you mean {' or '.join(c + '://' for c in close)}? " if close else ""
        raise ValueError(f"unknown camera scheme {scheme.group(1)}://; {hint}known: mqtt, {', '.join(known)}, "
                         "or a file or folder path")

    @field_validator("zone")
    @classmethod
    def _zone_is_a_polygon(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is None:
            return value
        if len(value) < 3:
            raise ValueError(f"a zone needs at least 3 points (x, y), got {len(value)}; leave it out for the whole "
                             "frame")
        outside = [p for p in value if not all(0 <= v <= 1 for v in p)]
        if outside:
            raise ValueError(f"zone points are normalised, x and y in 0-1 of the frame; outside: {outside}")
        return value


class Registry(_Strict):
    grids: list[Grid] = Field(default_factory=list)
    workers: list[Worker] = Field(default_factory=list)
    buildings: list[Building] = Field(default_factory=list)
    meters: list[Meter] = Field(default_factory=list)
    elevators: list[Elevator] = Field(default_factory=list)
    stations: list[Station] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> Registry:
        # `gridwatch check` and the services' loader (edge.config.load_registry) report each problem at its
        # own line; they ask for the problems themselves.
        if (info.context or {}).get("references") == "deferred":
            return self
        problems = self.reference_problems()
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        return self

    def reference_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(where in the document, what is wrong) for each duplicate id and each reference to nothing."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for section in ("grids", "workers", "buildings", "meters", "elevators", "stations"):
            items = getattr(self, section)
            counts = Counter(item.id for item in items)
            seen: set[str] = set()
            for i, item in enumerate(items):
                if counts[item.id] > 1 and item.id in seen:
                    problems.append(((section, i, "id"), f"id {item.id!r} appears {counts[item.id]} times"))
                seen.add(item.id)
        grids = {g.id for g in self.grids}
        workers = {w.id for w in self.workers}
        buildings = {b.id for b in self.buildings}
        stations = {s.id for s in self.stations}
        for gi, g in enumerate(self.grids):
            problems += [(("grids", gi, "workers", wi), f"grid {g.id!r}: unknown worker {w!r}")
                         for wi, w in enumerate(g.workers) if w not in workers]
            if g.leader is not None and g.leader not in workers:
                problems.append((("grids", gi, "leader"), f"grid {g.id!r}: unknown leader {g.leader!r}"))
            for si, shift in enumerate(g.duty):
                problems += [(("grids", gi, "duty", si, "workers", wi),
                              f"grid {g.id!r}: duty names {w!r}, who is not one of its workers")
                             for wi, w in enumerate(shift.workers) if w not in g.workers and w != g.leader]
            if g.station is not None and g.station not in stations:
                problems.append((("grids", gi, "station"), f"grid {g.id!r}: unknown station {g.station!r}"))
        for si, st in enumerate(self.stations):
            problems += [(("stations", si, "workers", wi), f"station {st.id!r}: unknown worker {w!r}")
                         for wi, w in enumerate(st.workers) if w not in workers]
        for bi, b in enumerate(self.buildings):
            if b.grid is not None and b.grid not in grids:
                problems.append((("buildings", bi, "grid"), f"building {b.id!r}: unknown grid {b.grid!r}"))
        for section in ("meters", "elevators"):
            for i, item in enumerate(getattr(self, section)):
                if item.building is not None and item.building not in buildings:
                    problems.append(((section, i, "building"), f"{item.id!r}: unknown building {item.building!r}"))
        return problems

    # Lookups used on the hot path are built once per registry object.
    def model_post_init(self, _context: object) -> None:
        object.__setattr__(self, "_meters", {m.id: m for m in self.meters})
        object.__setattr__(self, "_buildings", {b.id: b for b in self.buildings})
        object.__setattr__(self, "_elevators", {e.id: e for e in self.elevators})
        object.__setattr__(self, "_grids", {g.id: g for g in self.grids})
        object.__setattr__(self, "_workers", {w.id: w for w in self.workers})
        object.__setattr__(self, "_stations", {s.id: s for s in self.stations})

    def grid(self, grid_id: str | None) -> Grid | None:
        return self._grids.get(grid_id) if grid_id else None  # type: ignore[attr-defined]

    def worker(self, worker_id: str) -> Worker | None:
        return self._workers.get(worker_id)  # type: ignore[attr-defined]

    def station(self, station_id: str | None) -> Station | None:
        return self._stations.get(station_id) if station_id else None  # type: ignore[attr-defined]

    def meter(self, meter_id: str) -> Meter | None:
        return self._meters.get(meter_id)  # type: ignore[attr-defined]

    def elevator(self, elevator_id: str) -> Elevator | None:
        return self._elevators.get(elevator_id)  # type: ignore[attr-defined]

    def place(self, building_id: str | None) -> tuple[str | None, str | None]:
        """(building, grid) of a building id; (None, None) when unknown."""
        building = self._buildings.get(building_id) if building_id else None  # type: ignore[attr-defined]
        return (building.id, building.grid) if building else (None, None)

    def place_of_meter(self, meter_id: str) -> tuple[str | None, str | None]:
        meter = self.meter(meter_id)
        return self.place(meter.building) if meter else (None, None)
