"""False alerts per household per month on the DAIAD trial (real homes, no labels).

How each episode is judged, since the trial has no labels and no elderly residents:
- meter_offline, meter_tamper: the trial's own faults (gaps, registers that go down or
  jump ±248,500 L) are real; an alert on them is right, and counted as a data fault.
- no_usage: a quiet span of 24 h or more is taken as an absence (a trip: with an away
  notice it would be suppressed); a shorter one is a false alert.
- continuous_flow, tap_open, spike: nothing tells a real leak from a busy home, so every
  one counts as false: the figure is an upper bound.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from edge.evaluation.replay import Episode
from ingest.wire.water import Reading

DAYS_PER_MONTH = 30.44
ABSENCE = timedelta(hours=24)
GAP_NOT_OBSERVED = timedelta(days=2)  # a silence longer than this is not time we watched


@dataclass(frozen=True)
class DaiadVerdicts:
    household_months: float
    households: int
    readings: int
    alerts: Counter[str]
    false_alerts: Counter[str]
    absences: int
    data_faults: Counter[str]


def observed_household_months(readings: Sequence[Reading]) -> tuple[float, int]:
    last: dict[str, Reading] = {}
    observed = timedelta()
    for reading in readings:
        prev = last.get(reading.meter_id)
        if prev is not None:
            step = reading.ts - prev.ts
            if timedelta() < step <= GAP_NOT_OBSERVED:
                observed += step
        last[reading.meter_id] = reading
    return observed.total_seconds() / 86400 / DAYS_PER_MONTH, len(last)


def judge(episodes: Sequence[Episode], readings: Sequence[Reading]) -> DaiadVerdicts:
    months, households = observed_household_months(readings)
    alerts: Counter[str] = Counter()
    false: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    absences = 0
    for episode in episodes:
        alerts[episode.type] += 1
        if episode.type in ("water.meter_offline", "water.meter_tamper"):
            faults[episode.type] += 1
        elif episode.type == "water.no_usage":
            quiet = (episode.cleared_at or episode.raised_at) - episode.started_at
            if quiet >= ABSENCE or episode.severity == "critical":
                absences += 1
            else:
                false[episode.type] += 1
        else:
            false[episode.type] += 1
    return DaiadVerdicts(months, households, len(readings), alerts, false, absences, faults)


def per_household_month(counter: Counter[str], months: float) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for key, count in counter.items():
        out[key] = count / months if months else 0.0
    return out
