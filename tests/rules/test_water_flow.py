"""water.continuous_flow and water.tap_open on 15-min and 1-h data."""

from __future__ import annotations

import pytest

from tests.rules.water_helpers import at_h, feed, of_type, readings, rules_with, then, timeline


def every_3h_a_45min_pause(hours: int) -> list[float]:
    return ([0.5] * 9 + [0.0] * 3) * (hours // 3)


def _with_a_2h_gap() -> list:
    before = readings([1.0] * 12, step_min=60)
    gap = then(before, [2.0], step_min=120)
    return before + gap + then(gap, [1.0] * 25, step_min=60)


FLOW_CASES = [
    (
        "a leak of 2 L/h, 15-min data",
        readings([0.5] * (4 * 50)),
        [("continuous_flow", "active", "warning", 24.0), ("continuous_flow", "active", "critical", 48.0)],
    ),
    (
        "a leak, 1-h data",
        readings([1.0] * 50, step_min=60),
        [("continuous_flow", "active", "warning", 24.0), ("continuous_flow", "active", "critical", 48.0)],
    ),
    (
        "45-min pauses do not break the run",
        readings(every_3h_a_45min_pause(27)), [("continuous_flow", "active", "warning", 24.0)],
    ),
    (
        "a quiet hour (four zero 15-min intervals) clears it once",
        readings([0.5] * (4 * 30) + [0.0] * 8 + [0.5] * 8),
        [("continuous_flow", "active", "warning", 24.0), ("continuous_flow", "cleared", "warning", 31.0)],
    ),
    (
        "one zero hour clears it with 1-h data, 59 min apart too",
        readings([1.0] * 25, step_min=60) + then(readings([1.0] * 25, step_min=60), [0.0], step_min=59),
        [("continuous_flow", "active", "warning", 24.0), ("continuous_flow", "cleared", "warning", 25.98)],
    ),
    (
        "a 2-h interval with volume restarts the run (it may hide a quiet hour)",
        _with_a_2h_gap(),
        [("continuous_flow", "active", "warning", 38.0)],
    ),
    ("70-min intervals with flow count (DAIAD's hourly meters)", readings([1.0] * 22, step_min=70),
     [("continuous_flow", "active", "warning", 24.5)]),
    ("use every hour with quiet hours between: no leak", readings(([3.0] + [0.0] * 4) * 60), []),
]


@pytest.mark.parametrize(("name", "series", "expected"), FLOW_CASES, ids=[c[0] for c in FLOW_CASES])
def test_continuous_flow_table(name, series, expected):
    assert timeline(rules_with(), series, "water.continuous_flow") == expected


def test_an_unknown_interval_keeps_an_open_episode_and_a_quiet_hour_clears_it():
    rules = rules_with()
    series = readings([1.0] * 26, step_min=60)
    gap = then(series, [3.0], step_min=180)
    after = then(gap, [1.0] * 3 + [0.0] * 2, step_min=60)
    changes = of_type(feed(rules, series + gap + after), "water.continuous_flow")
    assert [(c.state, c.severity) for c in changes] == [("active", "warning"), ("cleared", "warning")]
    assert changes[0].started_at == at_h(0)
    assert changes[1].cleared_at == at_h(26 + 3 + 3 + 1)
    assert changes[0].evidence["litres"] == 24.0 and "24.0 h" in changes[0].summary


TAP_CASES = [
    (
        "3 L/min for 45 min, 15-min data: critical at once, cleared when it drops",
        readings([45.0] * 3 + [0.0, 0.0]),
        [("tap_open", "active", "critical", 0.75), ("tap_open", "cleared", "critical", 1.0)],
    ),
    ("30 min of 3 L/min is not 45", readings([45.0] * 2 + [0.0] * 3), []),
    ("a 150 L bath in a 1-h interval is not a tap left open", readings([150.0, 0.0, 0.0], step_min=60), []),
    ("two bath-sized hours are not enough either", readings([150.0, 150.0, 0.0], step_min=60), []),
    ("three hours at 3 L/min, 1-h data", readings([180.0] * 3, step_min=60), [("tap_open", "active", "critical", 3.0)]),
    (
        "1-h data with flow_lpm confirming every reading: two intervals",
        readings([180.0] * 2, step_min=60, flows=[3.0, 3.0], flow0=3.0), [("tap_open", "active", "critical", 2.0)],
    ),
    (
        "flow_lpm says it stopped at the report: the run breaks",
        readings([45.0, 45.0, 45.0, 45.0], flows=[3.0, 0.0, 3.0, 3.0]), [],
    ),
    ("a washing machine (0.8 L/min for 2 h)", readings([12.0] * 8), []),
    ("a 20-min shower at 9 L/min", readings([0.0, 90.0, 90.0, 0.0]), []),
]


@pytest.mark.parametrize(("name", "series", "expected"), TAP_CASES, ids=[c[0] for c in TAP_CASES])
def test_tap_open_table(name, series, expected):
    assert timeline(rules_with(), series, "water.tap_open") == expected


def test_tap_open_evidence_and_id():
    changes = of_type(feed(rules_with(), readings([0.0] + [60.0] * 4)), "water.tap_open")
    assert len(changes) == 1
    change = changes[0]
    assert change.started_at == at_h(0.25) and change.severity == "critical"
    assert change.evidence["avg_lpm"] == 4.0 and change.evidence["litres"] == 180.0
    assert "4.0 L/min for 45 min" in change.summary
