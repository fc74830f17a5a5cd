"""Parameters of the water rules, with defaults from the published rules.

Sources (../shared/data/README.md): no use <0.01 m3 in 12 h (Shenzhen Longgang, Shanghai)
and in 24 h (Taicang); leak: flow in every hour for 24 h (Kamstrup LEAK, Shenzhen);
burst or tap left open: sustained flow for 30-45 min (Kamstrup BURST); spike >1000 L/day
(Liaocheng).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Profile = Literal["elderly_alone", "standard"]


class WaterThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # water.no_usage
    no_usage_enabled: bool = Field(True, description="off for households that are not alone")
    no_usage_warning_h: float = Field(12.0, gt=0, le=240)
    no_usage_critical_h: float = Field(24.0, gt=0, le=480)
    no_usage_signs: Literal["events", "litres"] = Field(
        "events",
        description="events: no use event (a rise above the base flow) for the hours; "
                    "litres: less than no_usage_max_l in the hours (meters that only report coarse totals)",
    )
    no_usage_event_l: float = Field(
        1.0, gt=0, le=100, description="events: a rise above the base flow of at least this (and the register's "
                                       "resolution) is a sign of life",
    )
    no_usage_max_l: float = Field(10.0, ge=0, le=1000, description="litres: less than this is 'no use'")
    no_usage_habit_max_h: float = Field(
        18.0, ge=0, le=480,
        description="a household's learnt usual quiet span may delay the warning up to this; 0: never learn",
    )
    no_usage_clear_l: float = Field(
        3.0, gt=0, le=1000, description="litres: one interval with at least this much use clears an open episode"
    )
    no_usage_clear_event_l: float = Field(
        2.0, gt=0, le=100,
        description="events: an open episode clears on a rise above the base flow of at least this, or on "
                    "smaller events adding up to it within no_usage_clear_window_h (a lone 1-L register tick "
                    "in an empty home is no person; chosen on a validation split of DAIAD meters)",
    )
    no_usage_clear_window_h: float = Field(
        6.0, gt=0, le=48, description="events: small events must add up to no_usage_clear_event_l within this",
    )
    # water.continuous_flow
    continuous_flow_warning_h: float = Field(24.0, gt=0, le=720)
    continuous_flow_critical_h: float = Field(48.0, gt=0, le=1440)
    quiet_hour_min: float = Field(60.0, gt=0, le=240, description="a quiet span this long breaks a flow run")
    flow_interval_tolerance: float = Field(
        1.25, ge=1, le=4,
        description="an interval with volume longer than quiet_hour_min times this may hide a quiet hour: unknown",
    )
    # water.continuous_flow from the minimum night flow (rules.water.night)
    night_flow_enabled: bool = True
    local_utc_offset_h: float = Field(8.0, ge=-12, le=14, description="the homes' local time, for the night")
    night_start_h: float = Field(1.0, ge=0, lt=24, description="local hour the night window opens")
    night_end_h: float = Field(5.0, gt=0, le=24, description="local hour the night window closes")
    night_flow_min_lph: float = Field(
        1.0, gt=0, le=1000, description="a lowest hourly flow of the night above this is a possible leak",
    )
    night_flow_nights: int = Field(
        2, ge=1, le=30,
        description="this many such nights in a row: warning (chosen on a validation split: eval water --tune)",
    )
    night_flow_critical_lph: float = Field(
        10.0, gt=0, le=10_000, description="a lowest night flow this large (or rising night on night): critical",
    )
    # water.tap_open
    tap_open_lpm: float = Field(2.0, gt=0, le=100)
    tap_open_min: float = Field(45.0, gt=0, le=600)
    tap_open_min_intervals: int = Field(
        3, ge=1, le=100, description="consecutive high-average intervals needed (2 when flow_lpm confirms each)"
    )
    # water.spike
    spike_l_per_day: float = Field(1000.0, gt=0, le=100_000)
    # water.meter_offline
    reporting_interval_min: float = Field(60.0, gt=0, le=1440)
    offline_missed_intervals: float = Field(3.0, ge=1, le=100)
    offline_critical_h: float = Field(24.0, gt=0, le=720)
    offline_learn_h: float = Field(
        3.0, ge=0, le=72, description="a new meter's upload cadence (batches) is learnt this long before a warning",
    )
    offline_clear_h: float = Field(
        12.0, ge=0, le=72,
        description="hysteresis: an outage's episode clears after this long of regular readings; a new silence "
                    "before then is the same episode",
    )
    offline_clear_max_h: float = Field(
        72.0, ge=0, le=336,
        description="a meter that dropped out recently (a bad link) waits offline_clear_h more for each recent "
                    "outage before its episode clears, up to this (chosen on a validation split of DAIAD meters)",
    )
    # water.meter_tamper: more than a household pipe can carry (DN15 Q4 is about 52 L/min)
    max_pipe_lpm: float = Field(60.0, gt=0, le=1000)
    tamper_clear_h: float = Field(24.0, gt=0, le=720, description="plausible readings this long clear it")
    tamper_critical_events: int = Field(4, ge=2, le=1000, description="this many events in one episode: critical")
    register_backstep_l: float = Field(
        10.0, ge=0, le=1000, description="a register going down by at most this is jitter or backflow, not tamper"
    )


    @model_validator(mode="after")
    def _night_in_one_day(self) -> WaterThresholds:
        if self.night_start_h >= self.night_end_h:
            raise ValueError("night_start_h must be before night_end_h (a window within one local day, e.g. 1-5)")
        return self


PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "elderly_alone": {},
    # A family's empty day is no emergency: no-usage watches people who live alone.
    "standard": {"no_usage_enabled": False},
}


def resolve(profile: str, *overrides: dict[str, Any] | None) -> WaterThresholds:
    """Published defaults, then the profile's, then each override in order (later wins)."""
    merged: dict[str, Any] = dict(PROFILE_DEFAULTS.get(profile, {}))
    for layer in overrides:
        if layer:
            merged.update(layer)
    return WaterThresholds.model_validate(merged)
