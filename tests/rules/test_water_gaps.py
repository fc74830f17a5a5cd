"""Gaps are unknown, not use: the volume after a gap is spread over it, never a spike or a tap."""

from __future__ import annotations

import pytest

from tests.rules.water_helpers import brief, feed, readings, rules_with, then

HOURLY = {"reporting_interval_min": 60}


def chain(*parts: tuple[list[float], float]) -> list:
    """Hourly-meter readings: (litres per interval, interval minutes) parts one after the other."""
    series = readings([], step_min=60)
    for usage, step_min in parts:
        series += then(series, usage, step_min=step_min)
    return series


CASES = [
    # name, series (hourly meter), expected changes of spike and tap_open
    (
        "a 5-h gap, then 1500 L at once: spread over the gap, no spike",
        chain(([0.0] * 6, 60), ([1500.0], 300), ([0.0] * 3, 60)),
        [],
    ),
    (
        "three 3-h gaps of 400 L each: 2.2 L/min on average, but no tap is known to run",
        chain(([0.0] * 6, 60), ([400.0] * 3, 180), ([0.0] * 3, 60)),
        [],
    ),
    (
        "measured after the gap: 200 L an hour is a tap by 3 h and a spike past 1000 L",
        chain(([0.0] * 6, 60), ([0.0], 300), ([200.0] * 6, 60)),
        [("tap_open", "active", "critical", 14.0), ("spike", "active", "warning", 17.0)],
    ),
]


@pytest.mark.parametrize(("name", "series", "expected"), CASES, ids=[c[0] for c in CASES])
def test_no_spike_or_tap_after_a_gap(name, series, expected):
    changes = [c for c in feed(rules_with(**HOURLY), series) if c.type in ("water.spike", "water.tap_open")]
    assert brief(changes) == expected


def test_a_spike_open_before_a_gap_clears_only_when_the_day_is_surely_under():
    # 1200 L in 4 h: a spike; a 10-h gap with 50 L: the day may still hold 1250 L; then quiet
    series = chain(([0.0] * 4 + [300.0] * 4, 60), ([50.0], 600), ([0.0] * 16, 60))
    changes = [c for c in feed(rules_with(**HOURLY), series) if c.type == "water.spike"]
    # at 30 h the day since 6 h holds at most 2 x 300 + 50 L: surely under 1000 L
    assert brief(changes) == [("spike", "active", "warning", 8.0), ("spike", "cleared", "warning", 30.0)]
