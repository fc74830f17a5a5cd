"""Pure decisions about one interval, and the thresholds the rules add."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rules.water.intervals import Kind, Limits, classify, offline_dues
from rules.water.thresholds import WaterThresholds, resolve

LIM = Limits.of(WaterThresholds())  # max pipe 60 L/min, backstep 10 L

CLASSIFY = [
    # dt seconds, dv litres, kind
    (900, 0.0, Kind.ZERO),
    (900, 1e-9, Kind.ZERO),
    (900, 0.1, Kind.FLOW),
    (900, -1.0, Kind.ZERO),  # DAIAD's 1 L backsteps: jitter
    (900, -10.0, Kind.ZERO),
    (900, -10.5, Kind.DOWN),
    (175, -248_520.0, Kind.DOWN),  # DAIAD's glitch, down...
    (175, 248_520.0, Kind.JUMP),  # ...and back up
    (900, 900.0, Kind.FLOW),  # 60 L/min: a pipe at full bore
    (900, 911.0, Kind.JUMP),
    (2, 10.0, Kind.FLOW),  # two reports seconds apart, one register count: not a jump
    (217 * 86400, 50_000.0, Kind.FLOW),  # the longest DAIAD gap with a plausible volume
]


@pytest.mark.parametrize(("dt", "dv", "kind"), CLASSIFY)
def test_classify(dt, dv, kind):
    assert classify(dt, dv, LIM) == kind


@pytest.mark.parametrize(
    ("missed", "interval_s", "critical_h", "expected"),
    [
        (3, 900, 24, (2700.0, 86400.0)),
        (3, 3600, 24, (10800.0, 86400.0)),
        (30, 3600, 24, (86400.0, 86400.0)),  # the warning never comes after the critical
    ],
)
def test_offline_dues(missed, interval_s, critical_h, expected):
    lim = Limits.of(WaterThresholds(offline_missed_intervals=missed, offline_critical_h=critical_h))
    assert offline_dues(0.0, interval_s, lim) == expected


def test_new_thresholds_have_defaults_and_bounds():
    t = resolve("elderly_alone")
    assert (t.no_usage_clear_l, t.flow_interval_tolerance, t.tap_open_min_intervals) == (3.0, 1.25, 3)
    assert (t.tamper_critical_events, t.register_backstep_l) == (4, 10.0)
    assert Limits.of(t).flow_interval_max_s == 75 * 60  # the published hourly method's 75 min
    for bad in ({"no_usage_clear_l": 0}, {"flow_interval_tolerance": 0.5}, {"tap_open_min_intervals": 0},
                {"tamper_critical_events": 1}, {"register_backstep_l": -1}):
        with pytest.raises(ValidationError):
            resolve("standard", bad)
