"""Tiny builders of meter readings from a usage pattern (litres per interval), and a runner."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from ingest.wire.water import Reading
from rules.episode import AlertChange
from rules.water import WaterRules
from rules.water.thresholds import WaterThresholds

T0 = datetime(2024, 3, 4, 0, 0, tzinfo=UTC)


def at_h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def readings(
    usage: Iterable[float], *, step_min: float = 15, start: datetime = T0, total0: float = 1000.0,
    meter: str = "m-1", flows: Sequence[float | None] | None = None, flow0: float | None = None,
) -> list[Reading]:
    """A first reading at `start`, then one per interval with the litres used in it.

    `flows` (optional) gives flow_lpm of each reading after the first.
    """
    out = [Reading(meter, start, total0, flow0)]
    total = total0
    for i, litres in enumerate(usage):
        total += litres
        flow = flows[i] if flows is not None else None
        out.append(Reading(meter, start + timedelta(minutes=step_min * (i + 1)), total, flow))
    return out


def then(previous: list[Reading], usage: Iterable[float], *, step_min: float = 15,
         flows: Sequence[float | None] | None = None) -> list[Reading]:
    """Continue a series: readings after the last one of `previous`."""
    last = previous[-1]
    return readings(usage, step_min=step_min, start=last.ts, total0=last.total_l, meter=last.meter_id,
                    flows=flows)[1:]


def rules_with(**overrides: object) -> WaterRules:
    thresholds = WaterThresholds.model_validate(overrides)
    return WaterRules(lambda _meter: thresholds)


def feed(rules: WaterRules, series: Iterable[Reading]) -> list[AlertChange]:
    changes: list[AlertChange] = []
    for reading in series:
        changes.extend(rules.on_reading(reading).changes)
    return changes


def of_type(changes: list[AlertChange], alert_type: str) -> list[AlertChange]:
    return [c for c in changes if c.type == alert_type]


def brief(changes: list[AlertChange]) -> list[tuple[str, str, str, float]]:
    """(type, state, severity, hours after T0 of the change) of each change: raised_at or cleared_at."""
    rows = []
    for c in changes:
        moment = c.cleared_at if c.state == "cleared" else c.raised_at
        hours = round((moment - T0).total_seconds() / 3600, 2)
        rows.append((c.type.removeprefix("water."), c.state, c.severity, hours))
    return rows


def timeline(rules: WaterRules, series: Iterable[Reading], alert_type: str | None = None,
             ) -> list[tuple[str, str, str, float]]:
    """(type, state, severity, hours after T0 of the reading that made the change) of each change."""
    rows = []
    for reading in series:
        for c in rules.on_reading(reading).changes:
            if alert_type is None or c.type == alert_type:
                hours = round((reading.ts - T0).total_seconds() / 3600, 2)
                rows.append((c.type.removeprefix("water."), c.state, c.severity, hours))
    return rows
