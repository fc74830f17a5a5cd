"""Harder households than the classic pair, for rules that must hold where nobody tuned them.

- frugal: an elderly person alone who uses 40-120 L a day in uses of 2-4 L (a low flush, a
  hand wash, a kettle), a use every few hours in the day and a quiet night: the homes where a
  litre total under 10 L in 12 h is normal life.
- late_sleeper: alone, to bed at 00:30-02:00, up at 09:30-11:30: long quiet mornings.
- night_shift: alone, away at work 21:30-06:30 five nights a week (not after Friday and
  Saturday), asleep 07:30-14:30 after a night's work.
- visitors (any kind): now and then a visitor for the day, some staying the night (a flush or
  two in the small hours, a morning shower).
A day is a list of uses (start epoch s, duration s, flow L/min) on local time, as in households.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

HOUR_S = 3600.0
LOCAL_OFFSET_S = 8 * 3600  # as simulators.water.households: China Standard Time
Row = tuple[float, float, float]


def use(day: float, hour: float, litres: float, lpm: float) -> Row:
    return (day + hour * HOUR_S, litres / lpm * 60.0, lpm)


def _small(day: float, hour: float, rng: np.random.Generator, lo: float = 2.0, hi: float = 4.0) -> Row:
    return use(day, hour, float(rng.uniform(lo, hi)), float(rng.uniform(3.0, 6.0)))


def _flush(day: float, hour: float, rng: np.random.Generator, litres: float = 6.0) -> Row:
    return use(day, hour, litres, float(rng.uniform(8.0, 11.0)))


def _awake_uses(day: float, wake: float, bed: float, rng: np.random.Generator, flush_l: float,
                per_day: float) -> list[Row]:
    """Flushes and small uses spread over the waking hours, one at getting up and going to bed."""
    rows = [_flush(day, wake + float(rng.uniform(0, 0.1)), rng, flush_l),
            _small(day, wake + float(rng.uniform(0.1, 0.4)), rng),
            _small(day, bed - float(rng.uniform(0.2, 0.5)), rng),
            _flush(day, bed - float(rng.uniform(0, 0.15)), rng, flush_l)]
    n = int(rng.poisson(per_day))
    for hour in rng.uniform(wake + 0.5, bed - 0.5, n):
        rows.append(_flush(day, float(hour), rng, flush_l) if rng.random() < 0.45 else _small(day, float(hour), rng))
    return rows


def _shower(day: float, hour: float, rng: np.random.Generator) -> Row:
    return use(day, hour, float(rng.uniform(30.0, 50.0)), float(rng.uniform(6.0, 8.0)))


def frugal_day(h: Any, day: float, rng: np.random.Generator) -> list[Row]:
    wake, bed = float(rng.uniform(6.0, 7.5)), float(rng.uniform(21.0, 22.5))
    rows = _awake_uses(day, wake, bed, rng, flush_l=float(rng.uniform(3.0, 4.0)), per_day=9.0)
    if rng.random() < 0.2:
        rows.append(_flush(day, float(rng.uniform(1.0, 5.0)), rng, 3.5))
    if rng.random() < h.showers_per_week / 7.0 / 2:  # a shower every other planned day
        rows.append(_shower(day, wake + float(rng.uniform(0.5, 2.0)), rng))
    return rows


def late_sleeper_day(h: Any, day: float, rng: np.random.Generator) -> list[Row]:
    wake, bed = float(rng.uniform(9.5, 11.5)), 24.0 + float(rng.uniform(0.5, 2.0))
    rows = _awake_uses(day, wake, bed, rng, flush_l=6.0, per_day=14.0)
    rows.append(use(day, float(rng.uniform(12.5, 13.5)), float(rng.uniform(6, 12)), 5.0))
    rows.append(use(day, float(rng.uniform(19.0, 20.5)), float(rng.uniform(6, 12)), 5.0))
    if rng.random() < h.showers_per_week / 7.0:
        rows.append(_shower(day, float(rng.uniform(21.0, 23.0)), rng))
    return rows


def _works_the_night_after(day: float) -> bool:
    """At work from 22:00 the night after this local day, except the nights after Friday and Saturday."""
    return datetime.fromtimestamp(day + 12 * HOUR_S + LOCAL_OFFSET_S, tz=UTC).weekday() not in (4, 5)


def night_shift_day(h: Any, day: float, rng: np.random.Generator) -> list[Row]:
    rows: list[Row] = []
    if _works_the_night_after(day - 86400.0):  # home from the night's work, asleep till the afternoon
        home = float(rng.uniform(6.3, 6.8))
        rows += [_flush(day, home + 0.05, rng), _small(day, home + 0.3, rng), _flush(day, home + 1.0, rng)]
        if rng.random() < h.showers_per_week / 7.0:
            rows.append(_shower(day, home + float(rng.uniform(0.4, 0.7)), rng))
        wake = float(rng.uniform(14.0, 15.0))
    else:
        wake = float(rng.uniform(8.0, 9.5))
    end = float(rng.uniform(21.2, 21.6)) if _works_the_night_after(day) else float(rng.uniform(23.0, 24.5))
    rows += _awake_uses(day, wake, end, rng, flush_l=6.0, per_day=10.0)
    rows.append(use(day, float(rng.uniform(17.5, 19.0)), float(rng.uniform(6, 12)), 5.0))
    return rows


def visitor_day(day: float, rng: np.random.Generator) -> list[Row]:
    """A visitor from 10:00 to 20:00; three in ten stay the night."""
    rows = [_flush(day, float(hour), rng) for hour in rng.uniform(10.0, 20.0, int(rng.integers(3, 7)))]
    rows += [_small(day, float(hour), rng) for hour in rng.uniform(10.0, 20.0, int(rng.integers(3, 8)))]
    if rng.random() < 0.3:
        rows += [_flush(day, 24.0 + float(hour), rng) for hour in rng.uniform(1.0, 5.0, int(rng.integers(1, 3)))]
        rows.append(_shower(day, 24.0 + float(rng.uniform(7.0, 8.5)), rng))
    return rows


DAYS: dict[str, Callable[[Any, float, np.random.Generator], list[Row]]] = {
    "frugal": frugal_day,
    "late_sleeper": late_sleeper_day,
    "night_shift": night_shift_day,
}
