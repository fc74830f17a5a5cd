"""Offline a person can act on: cadence learnt first, one episode per outage, one alert per silent building."""

from __future__ import annotations

from datetime import timedelta

from ingest.wire.water import Reading
from rules.water import WaterRules
from rules.water.thresholds import WaterThresholds
from tests.rules.water_helpers import T0, at_h, readings

BUILDING = {"a": "b-1", "b": "b-1", "c": "b-1", "d": "b-1", "e": "b-2"}


def rules_in_buildings(**overrides: object) -> WaterRules:
    thresholds = WaterThresholds.model_validate({"reporting_interval_min": 15, **overrides})
    return WaterRules(lambda _m: thresholds, BUILDING.get)


def play(rules: WaterRules, arrivals: list[tuple[object, Reading]]) -> list:
    """(arrival time, reading) in arrival order; the watermark is the newest event time seen, as in the worker."""
    out, newest = [], None
    for _arrival, reading in sorted(arrivals, key=lambda a: (a[0], a[1].ts, a[1].meter_id)):
        if newest is not None:
            out += rules.advance(newest)
        out += rules.on_reading(reading).changes
        newest = reading.ts if newest is None or reading.ts > newest else newest
    return out


def live(meter: str, hours: float, skip: tuple[float, float] | None = None) -> list[tuple[object, Reading]]:
    series = readings([1.0, 0.0] * int(hours * 2), meter=meter)
    if skip:
        series = [r for r in series if not at_h(skip[0]) <= r.ts < at_h(skip[1])]
    return [(r.ts, r) for r in series]


def offline(changes: list, subject: str | None = None) -> list[tuple[str, str, str, str]]:
    return [(c.type.removeprefix("water."), c.subject, c.state, c.severity) for c in changes
            if c.type in ("water.meter_offline", "water.gateway_offline") and (subject is None or c.subject == subject)]


def test_hourly_batches_of_four_are_learnt_before_any_warning():
    batched = readings([1.0] * 4 * 12, meter="x")
    arrivals = live("e", 12) + [(batched[(i // 4) * 4 + 3].ts if (i // 4) * 4 + 3 < len(batched) else r.ts, r)
                                for i, r in enumerate(batched)]
    assert offline(play(rules_in_buildings(), arrivals), "x") == []


def test_a_bad_link_is_one_episode_that_clears_after_regular_readings():
    # silent 3 h out of every 4 h for 16 h, then steady for 24 h
    flaky = [r for r in readings([1.0] * 4 * 40, meter="e")
             if r.ts >= at_h(16) or (r.ts - T0).total_seconds() % 14400 < 3600]
    changes = play(rules_in_buildings(), live("a", 40) + [(r.ts, r) for r in flaky])
    assert offline(changes, "e") == [("meter_offline", "e", "active", "warning"),
                                     ("meter_offline", "e", "cleared", "warning")]
    cleared = [c for c in changes if c.subject == "e" and c.state == "cleared"][0]
    # the 3-h drop-outs are a habit once seen twice (by 8 h): regular since then; the link relapsed
    # once before that, so the clear waits about twice the 12 h (the earlier outage fades a little)
    assert cleared.evidence["back_since"] == "2024-03-04T08:00:00Z" and "regular readings" in cleared.summary
    assert 20 <= cleared.evidence["steady_h"] < 24


def test_a_link_that_drops_every_2_h_for_a_day_yields_one_offline_episode():
    # every other hour silent (the 45-min reading of each hour and the next hour missing) for a day, then steady
    flaky = [r for r in readings([1.0] * 4 * 72, meter="e")
             if r.ts >= at_h(24) or (r.ts - T0).total_seconds() % 7200 < 3600]
    changes = play(rules_in_buildings(offline_learn_h=0), live("a", 72) + [(r.ts, r) for r in flaky])
    assert offline(changes, "e") == [("meter_offline", "e", "active", "warning"),
                                     ("meter_offline", "e", "cleared", "warning")]


def test_a_meter_that_keeps_dropping_out_for_hours_is_two_episodes_not_one_per_outage():
    # outages of 6, 8, 10, 12.5 and 15 h, 14 h of readings between: each longer than the habit of the
    # ones before, so each is a warning of its own without damping
    outages, t = [], 14.0
    for length in (6, 8, 10, 12.5, 15):
        outages.append((t, t + length))
        t += length + 14
    keep = [r for r in readings([1.0] * 4 * int(t), meter="e")
            if not any(at_h(a) <= r.ts < at_h(b) for a, b in outages)]
    arrivals = live("a", t) + [(r.ts, r) for r in keep]
    undamped = play(rules_in_buildings(offline_clear_max_h=12), arrivals)
    assert len([c for c in offline(undamped, "e") if c[2] == "active"]) == 5
    # with damping: the first clears after 12 h of readings, the second waits twice that (relapses join it)
    raised = [c for c in offline(play(rules_in_buildings(), arrivals), "e") if c[2] == "active"]
    assert len(raised) == 2


def test_a_building_gone_silent_is_one_gateway_episode_not_one_per_meter():
    arrivals = [a for m in "abcd" for a in live(m, 30, skip=(6, 20))] + live("e", 30)
    changes = play(rules_in_buildings(), arrivals)
    assert offline(changes) == [("gateway_offline", "b-1", "active", "warning"),
                                ("gateway_offline", "b-1", "cleared", "warning")]
    raised = [c for c in changes if c.type == "water.gateway_offline"][0]
    assert "All 4 meters of building b-1" in raised.summary
    assert raised.started_at <= at_h(6) and raised.evidence["meters"] == ["a", "b", "c", "d"]


def test_a_long_building_outage_goes_critical_and_one_meter_that_stays_dead_is_named_after():
    arrivals = [a for m in "abc" for a in live(m, 40, skip=(6, 34))] + live("d", 6) + live("e", 40)
    changes = play(rules_in_buildings(), arrivals)
    assert offline(changes) == [("gateway_offline", "b-1", "active", "warning"),
                                ("gateway_offline", "b-1", "active", "critical"),
                                ("gateway_offline", "b-1", "cleared", "critical"),
                                ("meter_offline", "d", "active", "warning"),
                                ("meter_offline", "d", "active", "critical")]


def test_one_silent_meter_in_a_working_building_is_a_meter_offline():
    arrivals = [a for m in "abc" for a in live(m, 12)] + live("d", 12, skip=(4, 12)) + live("e", 12)
    assert offline(play(rules_in_buildings(), arrivals)) == [("meter_offline", "d", "active", "warning")]


def test_a_gateway_episode_survives_a_restart():
    rules = rules_in_buildings()
    arrivals = [a for m in "abcd" for a in live(m, 12, skip=(6, 13))] + live("e", 12)
    first = play(rules, arrivals)
    assert offline(first) == [("gateway_offline", "b-1", "active", "warning")]
    restored = rules_in_buildings()
    restored.load(rules.dirty())
    back = restored.on_reading(Reading("a", at_h(12.25), 2000.0))
    assert offline(back.changes) == [("gateway_offline", "b-1", "cleared", "warning")]
    assert back.changes[0].id == first[-1].id
    assert restored.advance(at_h(12.25) + timedelta(minutes=1)) == []


def test_a_link_that_drops_out_ten_hours_every_night_is_learnt_after_twice():
    thresholds = WaterThresholds(reporting_interval_min=60, offline_clear_h=0)
    rules = WaterRules(lambda _m: thresholds)
    nightly = [r for r in readings([1.0] * 24 * 6, step_min=60, meter="x") if (r.ts - T0).total_seconds() % 86400
               < 14 * 3600]
    other = readings([1.0] * 24 * 6, step_min=60, meter="y")
    raised = [c for c in play(rules, [(r.ts, r) for r in nightly + other])
              if c.subject == "x" and c.state == "active" and c.type == "water.meter_offline"]
    assert [c.started_at.day for c in raised] == [4, 5]  # the first two nights, never after
