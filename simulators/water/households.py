"""Household routines: the water uses of one home, day after day, from a seed.

Two profiles of the registry: `elderly_alone` (one person, quiet nights, ~80-150 L/day) and
`standard` (2-5 people, ~230 L/day median like the DAIAD homes). Showers are drawn from the
DAIAD amphiro trials and tap uses from CIWS end-use events (simulators.water.data).

Routines run on local time (LOCAL_OFFSET_S, China Standard Time, no daylight saving).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from simulators.water import data, kinds
from simulators.water.flow import Uses

LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86400.0
HOUR_S = 3600.0
TOILET_L = 6.0

# Relative use per local hour for the uses spread over the day (not the fixed ones).
_ELDERLY_HOURS = np.array([0, 0, 0, 0, 0, 0, 3, 3, 3, 1, 1, 2, 2, 0.8, 0.8, 0.8, 0.8, 0.8, 3, 3, 3, 1, 1, 0])
_STANDARD_HOURS = np.array([0, 0, 0, 0, 0, 0, 2, 3, 3, 1, 1, 1, 1.5, 1.5, 0.8, 0.8, 0.8, 0.8, 2.5, 2.5, 2.5, 2.5, 2,
                            0.5])


@dataclass(frozen=True)
class Household:
    id: str
    profile: str  # "elderly_alone" | "standard"
    persons: int
    showers_per_week: float  # per person
    # "elderly" | "standard" (the classic pair) or a harder kind of simulators.water.kinds:
    # "frugal", "late_sleeper", "night_shift"
    kind: str = ""
    visitors: float = 0.0  # chance per day of a visitor (more use, a night flush or two)


def make_household(household_id: str, profile: str, rng: np.random.Generator, kind: str = "",
                   visitors: float = 0.0) -> Household:
    if kind and kind not in ("elderly", "standard"):
        return Household(household_id, profile, 1, float(rng.integers(1, 4)), kind, visitors)
    if profile == "elderly_alone":
        return Household(household_id, profile, 1, float(rng.integers(1, 4)), kind or "elderly", visitors)
    persons = int(rng.choice([2, 3, 4, 5], p=[0.35, 0.3, 0.25, 0.1]))
    return Household(household_id, "standard", persons, float(rng.uniform(3.5, 6.0)), kind or "standard", visitors)


def local_midnight(epoch_s: float) -> float:
    """Epoch of the local midnight at or before `epoch_s`."""
    return (epoch_s + LOCAL_OFFSET_S) // DAY_S * DAY_S - LOCAL_OFFSET_S


def local_hour(epoch_s: float) -> float:
    return ((epoch_s + LOCAL_OFFSET_S) % DAY_S) / HOUR_S


def routine(household: Household, begin_s: float, end_s: float, rng: np.random.Generator) -> Uses:
    """All uses of the household in [begin_s, end_s), day by day on local time."""
    rows: list[tuple[float, float, float]] = []
    day = local_midnight(begin_s) - DAY_S  # the day before, so a shower running over midnight is there
    while day < end_s:
        weekend = datetime.fromtimestamp(day + LOCAL_OFFSET_S + 1, tz=UTC).weekday() >= 5
        harder = kinds.DAYS.get(household.kind)
        if harder is not None:
            rows += harder(household, day, rng)
        elif household.profile == "elderly_alone":
            rows += _elderly_day(household, day, rng)
        else:
            rows += _standard_day(household, day, weekend, rng)
        if household.visitors and rng.random() < household.visitors:
            rows += kinds.visitor_day(day, rng)
        day += DAY_S
    uses = Uses.of(rows)
    keep = (uses.start >= begin_s) & (uses.start < end_s)
    return Uses(uses.start[keep], uses.duration[keep], uses.flow_lpm[keep])


# -- one day -------------------------------------------------------------------------------


def _use(day: float, hour: float, litres: float, lpm: float) -> tuple[float, float, float]:
    return (day + hour * HOUR_S, litres / lpm * 60.0, lpm)


def _toilet(day: float, hour: float, rng: np.random.Generator) -> tuple[float, float, float]:
    return _use(day, hour, TOILET_L, float(rng.uniform(8.0, 11.0)))


def _tap(day: float, hour: float, rng: np.random.Generator) -> tuple[float, float, float]:
    samples = data.taps()
    litres, lpm = samples.draw(rng) if samples else (float(rng.uniform(0.5, 3.0)), float(rng.uniform(2.5, 6.0)))
    return _use(day, hour, litres, lpm)


def _shower(profile: str, day: float, hour: float, rng: np.random.Generator) -> tuple[float, float, float]:
    samples = data.showers(profile)
    if samples:
        litres, lpm = samples.draw(rng)
    else:
        lpm = float(rng.uniform(6.0, 10.0))
        litres = lpm * float(rng.uniform(5.0, 15.0))
    return _use(day, hour, litres, lpm)


def _hours(rng: np.random.Generator, weights: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    """`n` local hours in [lo, hi), spread by the per-hour weights (10-minute bins)."""
    if n <= 0 or hi <= lo:
        return np.zeros(0)
    bins = np.arange(144) / 6.0
    w = weights[(bins // 1).astype(int)] * ((bins >= lo) & (bins + 1 / 6 <= hi))
    if w.sum() <= 0:
        return rng.uniform(lo, hi, n)
    chosen = rng.choice(144, size=n, p=w / w.sum())
    return bins[chosen] + rng.uniform(0, 1 / 6, n)


def _laundry(day: float, hour: float, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """A washing machine: a wash fill and a rinse fill, 50-60 L in all (CIWS fills run ~11 L/min)."""
    total = float(rng.uniform(50.0, 60.0))
    first = total * float(rng.uniform(0.45, 0.55))
    lpm = float(rng.uniform(9.0, 11.5))
    gap_h = float(rng.uniform(25.0, 35.0)) / 60.0
    return [_use(day, hour, first, lpm), _use(day, hour + gap_h, total - first, lpm)]


def _elderly_day(h: Household, day: float, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    wake = float(rng.uniform(6.0, 7.25))
    bed = float(rng.uniform(21.25, 23.0))
    # Fixed points of the day: a flush and a wash at getting up and at going to bed (a basin for
    # face and feet), so that every 12 hours of a normal day hold well over the 10 L of "no use".
    rows = [
        _toilet(day, wake + float(rng.uniform(0, 0.08)), rng),
        _use(day, wake + float(rng.uniform(0.1, 0.3)), float(rng.uniform(2, 4)), float(rng.uniform(3, 5))),
        _use(day, bed - float(rng.uniform(0.2, 0.5)), float(rng.uniform(4, 6)), float(rng.uniform(3, 5))),
        _toilet(day, bed - float(rng.uniform(0, 0.15)), rng),
    ]
    rows += [_toilet(day, t, rng) for t in _hours(rng, _ELDERLY_HOURS, wake + 0.5, bed - 0.5, int(rng.poisson(4)))]
    rows += [_tap(day, t, rng) for t in _hours(rng, _ELDERLY_HOURS, wake, bed, int(rng.poisson(18)))]
    # Kitchen: a kettle and a wash-up at breakfast, cooking and dishes at lunch and dinner.
    rows.append(_use(day, wake + float(rng.uniform(0.3, 1.2)), float(rng.uniform(2, 5)), float(rng.uniform(4, 6))))
    rows.append(_use(day, float(rng.uniform(11.5, 13.0)), float(rng.uniform(6, 12)), float(rng.uniform(4, 6))))
    rows.append(_use(day, float(rng.uniform(17.5, 19.5)), float(rng.uniform(6, 12)), float(rng.uniform(4, 6))))
    if rng.random() < 0.35:  # one flush in the night, now and then
        rows.append(_toilet(day, float(rng.uniform(1.0, 5.0)), rng))
    if rng.random() < h.showers_per_week / 7.0:
        at = wake + float(rng.uniform(0.5, 2.0)) if rng.random() < 0.6 else float(rng.uniform(19.0, 20.5))
        rows.append(_shower(h.profile, day, at, rng))
    if rng.random() < 1.0 / 7.0:
        rows += _laundry(day, float(rng.uniform(9.0, 11.0)), rng)
    return rows


Row = tuple[float, float, float]


def _standard_day(h: Household, day: float, weekend: bool, rng: np.random.Generator) -> list[Row]:
    rows: list[tuple[float, float, float]] = []
    showers: list[tuple[float, float, float]] = []
    late = 1.0 if weekend else 0.0
    for _ in range(h.persons):
        wake = float(rng.uniform(6.0, 8.0)) + late
        bed = float(rng.uniform(22.0, 23.9))
        rows.append(_toilet(day, wake + float(rng.uniform(0, 0.1)), rng))
        rows += [_toilet(day, t, rng) for t in _hours(rng, _STANDARD_HOURS, wake + 0.3, bed, int(rng.poisson(3)))]
        rows += [_tap(day, t, rng) for t in _hours(rng, _STANDARD_HOURS, wake, bed, int(rng.poisson(9)))]
        if rng.random() < h.showers_per_week / 7.0:
            at = wake + float(rng.uniform(0.2, 1.0)) if rng.random() < 0.5 else float(rng.uniform(19.0, 22.5))
            showers.append(_shower(h.profile, day, at, rng))
    # One bathroom: showers follow each other with a break, never back to back for an hour.
    showers.sort()
    free_at = -np.inf
    for start, duration, lpm in showers:
        start = max(start, free_at)
        rows.append((start, duration, lpm))
        free_at = start + duration + 30 * 60.0
    meals = [(7.0 + late, 0.8, (3, 8)), (12.0, 1.5, (6, 12)), (18.5, 1.5, (8, 15))]
    for hour, spread, (lo, hi) in meals:
        if hour == 12.0 and not weekend and rng.random() < 0.5:
            continue  # nobody home for lunch
        rows.append(_use(day, hour + float(rng.uniform(0, spread)), float(rng.uniform(lo, hi)),
                         float(rng.uniform(4, 7))))
    if rng.random() < 0.6:  # washing up by hand after dinner
        rows.append(_use(day, float(rng.uniform(20.0, 21.5)), float(rng.uniform(10, 20)), float(rng.uniform(5, 7))))
    if rng.random() < min(1.0, 0.12 * h.persons):
        rows += _laundry(day, float(rng.uniform(9.0, 12.0)) if weekend else float(rng.uniform(19.0, 20.0)), rng)
    return rows
