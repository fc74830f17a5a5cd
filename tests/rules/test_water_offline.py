"""water.meter_offline: judged on the fleet watermark, learnt reporting interval, late backfills, cheap advance()."""

from __future__ import annotations

import time
from datetime import timedelta

from ingest.wire.water import Reading
from rules.water.intervals import Limits, learnt_interval_s
from rules.water.thresholds import WaterThresholds
from tests.rules.water_helpers import T0, at_h, brief, feed, readings, rules_with, then


def test_a_15min_meter_goes_offline_after_three_missed_intervals_then_critical_then_clears_once():
    rules = rules_with(offline_learn_h=0, offline_clear_h=0)  # the bare published mechanics
    series = readings([2.0] * 4)  # 0..1 h, every 15 min
    feed(rules, series)
    assert rules.advance(at_h(1.7)) == []
    warning = rules.advance(at_h(1.75))
    assert brief(warning) == [("meter_offline", "active", "warning", 1.75)]
    assert warning[0].started_at == at_h(1.0)
    assert "0.8 h" in warning[0].summary and "every 15 min" in warning[0].summary
    assert rules.advance(at_h(20)) == []
    critical = rules.advance(at_h(25.5))
    assert [(c.severity, c.revision, c.raised_at) for c in critical] == [("critical", 2, at_h(1.75))]
    assert rules.advance(at_h(40)) == []
    back = rules.on_reading(Reading("m-1", at_h(41), series[-1].total_l + 50))
    assert brief(back.changes) == [("meter_offline", "cleared", "critical", 41.0)]
    assert back.changes[0].id == warning[0].id
    assert rules.advance(at_h(41.5)) == []


def test_a_meter_seen_once_uses_the_configured_interval_and_a_jump_past_both_deadlines_gives_both():
    rules = rules_with(reporting_interval_min=60)
    feed(rules, readings([]))
    changes = rules.advance(at_h(30))
    assert [(c.severity, c.raised_at, c.revision) for c in changes] == [
        ("warning", at_h(3), 1), ("critical", at_h(3), 2),
    ]
    assert changes[1].evidence["silent_h"] == 24.0


def test_the_same_changes_however_often_advance_is_called():
    def run(step_min: float) -> list:
        rules = rules_with()
        feed(rules, readings([1.0] * 8, meter="a") + readings([1.0] * 2, step_min=60, meter="b"))
        out, mark = [], T0
        while mark < at_h(30):
            mark += timedelta(minutes=step_min)
            out += rules.advance(mark)
        return [(c.id, c.subject, c.severity, c.raised_at, c.summary) for c in out]

    assert run(1) == run(45) == run(600)
    assert len(run(1)) == 4


def test_late_backfill_clears_at_the_first_backfilled_reading_and_is_judged_where_it_belongs():
    rules = rules_with(offline_learn_h=0, offline_clear_h=0)
    series = readings([0.0] * 4 + [5.0] * 4)  # to 2 h
    feed(rules, series)
    raised = rules.advance(at_h(8.2))
    assert brief(raised) == [("meter_offline", "active", "warning", 2.75)]
    backlog = then(series, [3.0] * 4 * 6 + [100.0] * 3)  # 2.25 h .. 8.75 h, a tap open at the end
    changes = feed(rules, backlog)
    assert brief(changes) == [("meter_offline", "cleared", "warning", 2.25), ("tap_open", "active", "critical", 8.75)]
    assert rules.advance(at_h(8.9)) == []


def test_learnt_interval_is_a_bounded_median():
    lim = Limits.of(WaterThresholds(reporting_interval_min=60))
    table = [
        ([], 3600.0),
        ([900.0, 900.0], 3600.0),  # too few: the configured one
        ([900.0, 900.0, 900.0], 900.0),
        ([900.0, 900.0, 86400.0, 900.0], 900.0),  # one outage does not move it
        ([60.0] * 7, 900.0),  # bounded at configured / 4
        ([86400.0] * 5, 14400.0),  # bounded at configured * 4
        ([2460.0, 3600.0, 18000.0, 3590.0, 3610.0], 3600.0),  # DAIAD's 41-300 min
    ]
    for recent, expected in table:
        assert learnt_interval_s(recent, lim) == expected, recent


def test_advance_is_cheap_with_many_meters():
    rules = rules_with()
    meters = 20_000
    for i in range(meters):
        rules.on_reading(Reading(f"m{i}", T0 + timedelta(seconds=i % 900), 100.0))
        rules.on_reading(Reading(f"m{i}", T0 + timedelta(seconds=3600 + i % 900), 101.0))
    assert len(rules._offline.heap) == meters  # one deadline per meter, not one per reading
    started = time.perf_counter()
    calls = 2000
    for k in range(calls):  # watermark moving a second at a time: nothing due
        assert rules.advance(T0 + timedelta(hours=1, seconds=900 + k)) == []
    per_call = (time.perf_counter() - started) / calls
    assert per_call < 200e-6, per_call
    fired = rules.advance(at_h(5))  # all deadlines (3 h after 1 h) pass at once
    assert len(fired) == meters and len({c.subject for c in fired}) == meters
    assert [c.raised_at for c in fired] == sorted(c.raised_at for c in fired)


def _habit(days: int, gap_h: float) -> list[Reading]:
    """An hourly meter that, once a day, stays silent for gap_h hours (it uploads late)."""
    out, ts, total = [], T0, 1000.0
    for _day in range(days):
        for _hour in range(int(24 - gap_h)):
            out.append(Reading("m-1", ts, total))
            ts += timedelta(hours=1)
            total += 3.0
        ts += timedelta(hours=gap_h - 1)
    return out


def test_a_meter_that_habitually_goes_quiet_for_hours_is_not_called_offline_for_its_habit():
    rules = rules_with(reporting_interval_min=60)
    habitual = _habit(days=5, gap_h=5)
    changes = []
    for reading in habitual:
        changes += rules.advance(reading.ts)
        changes += rules.on_reading(reading).changes
    offline = [c for c in changes if c.type == "water.meter_offline" and c.state == "active"]
    # It may be called offline the first day, before the habit is learnt; never after.
    assert all(c.raised_at < at_h(30) for c in offline), [c.raised_at for c in offline]
    last = habitual[-1].ts
    assert rules.advance(last + timedelta(hours=5.5)) == []
    # A silence well beyond the habit is an outage.
    late = rules.advance(last + timedelta(hours=7))
    assert [(c.type, c.severity) for c in late] == [("water.meter_offline", "warning")]


def test_a_15min_meter_does_not_learn_an_outage_as_a_habit():
    rules = rules_with()
    series = readings([1.0] * 8)
    feed(rules, series)
    outage_end = series[-1].ts + timedelta(hours=6)
    back = rules.on_reading(Reading("m-1", outage_end, series[-1].total_l + 5))
    assert rules.state_of("m-1") is not None
    feed(rules, readings([1.0] * 8, start=outage_end, total0=series[-1].total_l + 5)[1:])
    last = outage_end + timedelta(hours=2)
    warning = rules.advance(last + timedelta(minutes=50))
    assert [(c.type, c.severity) for c in warning] == [("water.meter_offline", "warning")], back


def test_a_meter_uploading_batches_every_few_hours_is_learnt_not_called_offline_each_time():
    """Meter b sends 10 readings of 15 min at once every 2.5 h; meter a reports live."""
    rules = rules_with(reporting_interval_min=15)
    live = readings([1.0] * (4 * 24), meter="a")
    batched = readings([1.0] * (4 * 24), meter="b")
    by_time = {r.ts: r for r in live}
    changes, newest, batch = [], None, []
    for reading in batched:
        batch.append(reading)
        if len(batch) < 10:
            continue
        upload = batch[-1].ts  # the batch leaves when its last reading is taken
        for ts in sorted(t for t in by_time if t <= upload):
            changes += rules.advance(ts)
            changes += rules.on_reading(by_time.pop(ts)).changes
            newest = ts
        for r in batch:
            changes += rules.advance(newest)
            changes += rules.on_reading(r).changes
        batch = []
    flaps = [c for c in changes if c.type == "water.meter_offline" and c.state == "active" and c.subject == "b"]
    assert flaps == [], [c.raised_at for c in flaps]  # the cadence is learnt before the first warning
    # and an upload that does not come is still an outage
    silent = rules.advance(newest + timedelta(hours=4))
    assert ("b", "warning") in [(c.subject, c.severity) for c in silent]
