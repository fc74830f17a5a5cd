"""water.spike, water.meter_tamper, and what the rules make of duplicates, out-of-order readings and glitches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest.wire.water import Reading
from tests.rules.water_helpers import T0, at_h, feed, of_type, readings, rules_with, then, timeline

GLITCH_L = 248_500.0


def glitch_series() -> list[Reading]:
    """Quiet hours, then the register drops by 248,500 L and comes back 3 min later (DAIAD's fault)."""
    before = readings([10.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0])
    last = before[-1]
    down = Reading("m-1", last.ts + timedelta(minutes=12), last.total_l + 1 - GLITCH_L)
    up = Reading("m-1", last.ts + timedelta(minutes=15), last.total_l + 1)
    return before + [down, up] + then([up], ([10.0] + [0.0] * 4) * 21)


SPIKE_CASES = [
    (
        "1200 L in 3 h: raised when the lower bound passes 1000 L, cleared when the day is surely under",
        readings([100.0] * 12 + [0.0] * (4 * 24)),
        [("spike", "active", "warning", 2.75), ("spike", "cleared", "warning", 25.25)],
    ),
    (
        "a burst across midnight (a calendar day would miss it)",
        readings([0.0] * (4 * 23) + [150.0] * 8 + [0.0] * 4),
        [("spike", "active", "warning", 24.75)],
    ),
    ("900 L a day, every day", readings([9.375] * (4 * 72)), []),
    ("2000 L over a 3-day gap is no spike", readings([2000.0], step_min=72 * 60), []),
    ("a glitch is no spike", glitch_series(), []),
]


@pytest.mark.parametrize(("name", "series", "expected"), SPIKE_CASES, ids=[c[0] for c in SPIKE_CASES])
def test_spike_table(name, series, expected):
    assert timeline(rules_with(), series, "water.spike") == expected


def test_spike_started_at_and_evidence():
    changes = of_type(feed(rules_with(), readings([0.0] * 8 + [100.0] * 12)), "water.spike")
    assert changes[0].started_at == at_h(2)
    assert changes[0].evidence["litres"] == 1100.0 and "1100 L used in 2.8 h" in changes[0].summary


def test_glitch_is_one_tamper_episode_of_two_events_and_nothing_else():
    rules = rules_with()
    changes = feed(rules, glitch_series())
    assert [(c.type, c.state, c.severity) for c in changes] == [
        ("water.meter_tamper", "active", "warning"), ("water.meter_tamper", "cleared", "warning"),
    ]
    raised, cleared = changes
    assert raised.started_at == at_h(2.2) and raised.evidence["step_l"] == -GLITCH_L + 1
    assert "went down by 248499 L" in raised.summary
    assert cleared.cleared_at == at_h(26.25)  # 24 h of plausible readings after the jump back at 2.25 h
    assert rules.dirty()["m-1"]["tot"] == 1021.0 + 210.0


def test_reset_to_zero_rebases_the_register():
    rules = rules_with()
    before = readings([5.0] * 4)
    reset = [Reading("m-1", at_h(1.25), 0.0)]
    after = then(reset, [0.0] * (4 * 13))
    changes = feed(rules, before + reset + after)
    assert [(c.type, c.state) for c in changes] == [("water.meter_tamper", "active"), ("water.no_usage", "active")]
    assert changes[1].started_at == at_h(1.25)  # the quiet span starts at the reset, not before
    assert changes[1].raised_at == at_h(13.25)


def test_small_backsteps_are_jitter_not_tamper_nor_use():
    blip = readings([0.0] * 20 + [-1.0, 1.0, -2.0, 2.0] + [0.0] * 30)
    assert timeline(rules_with(), blip) == [("no_usage", "active", "warning", 12.0)]


def test_repeated_events_raise_tamper_to_critical_once():
    series = readings([0.0] * 2)
    for i in range(5):
        series += [Reading("m-1", series[-1].ts + timedelta(minutes=15), 5000.0 * ((i + 1) % 2) + 1000)]
    rows = timeline(rules_with(), series, "water.meter_tamper")
    assert rows == [("meter_tamper", "active", "warning", 0.75), ("meter_tamper", "active", "critical", 1.5)]


def test_a_jump_faster_than_a_pipe_is_tamper():
    series = readings([10.0, 5000.0, 10.0])
    changes = feed(rules_with(), series)
    assert [(c.type, c.evidence["event"]) for c in changes] == [("water.meter_tamper", "jump")]
    assert "jumped by 5000 L in 15 min" in changes[0].summary


class TestOrder:
    def test_duplicate_and_out_of_order_are_ignored(self):
        rules = rules_with()
        series = readings([5.0] * 4)
        feed(rules, series)
        rules.dirty()
        dup = rules.on_reading(Reading("m-1", series[-1].ts, 99999.0))
        old = rules.on_reading(Reading("m-1", series[1].ts + timedelta(minutes=1), 1e6))
        assert (dup.status, dup.changes) == ("duplicate", [])
        assert (old.status, old.changes) == ("out_of_order", [])
        assert rules.dirty() == {}  # nothing changed
        nxt = rules.on_reading(Reading("m-1", series[-1].ts + timedelta(minutes=15), series[-1].total_l + 5))
        assert (nxt.status, nxt.changes) == ("accepted", [])

    def test_out_of_order_reading_changes_nothing_the_register_already_counted(self):
        """The sorted series and the series with a late reading between give the same alerts."""
        series = readings([0.0] * 20 + [100.0] * 12 + [0.0] * 60)
        late = series[:40] + [series[30]] + series[40:]
        assert timeline(rules_with(), late) == timeline(rules_with(), series)
        assert timeline(rules_with(), series) != []

    def test_meters_are_independent(self):
        rules = rules_with()
        a = readings([0.0] * 60, meter="a")
        b = readings([10.0, 0.0] * 30, meter="b", start=T0 + timedelta(minutes=7))
        merged = sorted(a + b, key=lambda r: r.ts)
        changes = feed(rules, merged)
        assert [(c.subject, c.type) for c in changes] == [("a", "water.no_usage")]
        assert rules.meters() == 2
