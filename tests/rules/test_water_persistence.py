"""Restart equivalence (dirty() -> JSON -> load()), deterministic episode ids, small state, bad state."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from ingest.wire.water import AwayNotice, Reading
from rules.episode import AlertChange
from rules.water import WaterRules
from rules.water.thresholds import WaterThresholds, resolve
from tests.rules.water_helpers import T0, at_h, readings, then

HOURS = 60
Event = tuple[datetime, str, object]  # (event time, "reading" | "away" | "advance", payload)


def _glitchy() -> list[Reading]:
    before = readings(([10.0] + [0.0] * 4) * 8, meter="glitchy")  # to 10 h
    last = before[-1]
    down = Reading("glitchy", last.ts + timedelta(minutes=12), last.total_l - 248_500)
    up = Reading("glitchy", last.ts + timedelta(minutes=15), last.total_l + 1)
    return before + [down, up] + then([up], ([10.0] + [0.0] * 4) * 40)


def scenario() -> list[Event]:
    """Six meters over 60 h: a leak, a silence, a dead meter, a glitch, an absence, a burst."""
    series = (
        readings([0.5] * 4 * HOURS, meter="leak")  # continuous flow: warning 24 h, critical 48 h
        + readings([0.0] * 16 + [0.5] + [0.0] * (4 * 26 - 17) + [20.0] + ([8.0] + [0.0] * 7) * 30,
                   meter="quiet")  # no use event (half a litre is none) for 26 h
        + readings([3.0] * 8, meter="dead")  # silent after 2 h: offline warning, critical at 26 h
        + readings([0.0] * 4 * 8, meter="dead", start=at_h(40), total0=5000.0)  # back at 40 h
        + _glitchy()
        + readings([0.0] * 4 * HOURS, meter="away")
        + readings(([5.0] * 3 + [0.0] * 5) * 12 + [120.0] * 10 + [0.0] * 4 * 40, meter="burst")
    )
    events: list[Event] = [(r.ts, "reading", r) for r in series]
    events.append((at_h(6), "away", AwayNotice("away", at_h(5), at_h(20))))
    events += [(T0 + timedelta(minutes=15 * k, seconds=1), "advance", None) for k in range(4 * HOURS)]
    events.sort(key=lambda e: (e[0], e[1], getattr(e[2], "meter_id", "")))
    return events


def thresholds_for(meter: str) -> WaterThresholds:
    return resolve("standard" if meter == "leak" else "elderly_alone",
                   {"reporting_interval_min": 15, "offline_learn_h": 0, "offline_clear_h": 0})


def play(rules: WaterRules, events: list[Event]) -> list[AlertChange]:
    out: list[AlertChange] = []
    for moment, kind, payload in events:
        if kind == "reading":
            out += rules.on_reading(payload).changes  # type: ignore[arg-type]
        elif kind == "away":
            out += rules.on_away(payload)  # type: ignore[arg-type]
        else:
            out += rules.advance(moment)
    return out


def key(change: AlertChange) -> tuple:
    return (change.id, change.type, change.subject, change.state, change.severity, change.started_at,
            change.raised_at, change.cleared_at, change.summary, change.evidence, change.revision)


def test_scenario_raises_what_it_should():
    changes = play(WaterRules(thresholds_for), scenario())
    kinds = {(c.subject, c.type.removeprefix("water."), c.state, c.severity) for c in changes}
    assert {
        ("leak", "continuous_flow", "active", "warning"), ("leak", "continuous_flow", "active", "critical"),
        ("quiet", "no_usage", "active", "critical"), ("quiet", "no_usage", "cleared", "critical"),
        ("dead", "meter_offline", "active", "critical"), ("dead", "meter_offline", "cleared", "critical"),
        ("glitchy", "meter_tamper", "active", "warning"), ("glitchy", "meter_tamper", "cleared", "warning"),
        ("burst", "spike", "active", "warning"), ("burst", "tap_open", "active", "critical"),
    } <= kinds
    assert not any(c.subject == "leak" and c.type == "water.no_usage" for c in changes)  # standard profile
    away = [c for c in changes if c.subject == "away"]
    assert away and all(c.started_at >= at_h(20) for c in away)  # only the silence after the return


def test_restored_engine_gives_exactly_the_same_changes_as_one_that_never_stopped():
    events = scenario()
    reference = play(WaterRules(thresholds_for), events)
    # A worker that persists dirty() every 10 events and is restarted twice (mid-leak at 30 h,
    # mid-silence at 20 h, with an open offline episode and a tamper episode).
    cuts = {next(i for i, e in enumerate(events) if e[0] >= at_h(hour)) for hour in (20, 30)}
    store: dict[str, dict] = {}
    rules = WaterRules(thresholds_for)
    got: list[AlertChange] = []
    for i, event in enumerate(events):
        if i in cuts:
            store.update(rules.dirty())
            rules = WaterRules(thresholds_for)
            rules.load(json.loads(json.dumps(store)))
            assert rules.load_errors == {} and rules.meters() == len(store)
        got += play(rules, [event])
        if i % 10 == 0:
            store.update(rules.dirty())
    assert [key(c) for c in got] == [key(c) for c in reference]
    assert len(reference) >= 15


def test_same_data_same_ids():
    first = play(WaterRules(thresholds_for), scenario())
    second = play(WaterRules(thresholds_for), scenario())
    assert [key(c) for c in first] == [key(c) for c in second]
    ids = {c.id for c in first if c.state == "active" and c.revision == 1}
    assert len(ids) == len([c for c in first if c.state == "active" and c.revision == 1])  # one id per episode


def test_a_restart_does_not_forget_a_20_hour_silence():
    rules = WaterRules(thresholds_for)
    play(rules, [(r.ts, "reading", r) for r in readings([5.0] * 4, meter="m")])
    state = json.loads(json.dumps(rules.dirty()))
    restored = WaterRules(thresholds_for)
    restored.load(state)
    changes = restored.advance(at_h(21))
    assert [(c.type, c.severity, c.started_at) for c in changes] == [
        ("water.meter_offline", "warning", at_h(1)),
    ]
    back = restored.on_reading(Reading("m", at_h(21), 1020.0))
    assert [(c.type, c.state) for c in back.changes] == [
        ("water.meter_offline", "cleared"), ("water.no_usage", "active"),
    ]
    assert back.changes[1].started_at == at_h(1)  # no use event since the reading that showed the last one


def test_state_is_small_json():
    rules = WaterRules(thresholds_for)
    play(rules, scenario())
    states = rules.dirty()
    sizes = {meter: len(json.dumps(state)) for meter, state in states.items()}
    assert max(sizes.values()) < 2500, sizes
    assert rules.dirty() == {}


def test_a_bad_state_is_skipped_and_named_the_others_load():
    rules = WaterRules(thresholds_for)
    play(rules, [(r.ts, "reading", r) for r in readings([5.0] * 4, meter="good")])
    states = rules.dirty()
    states["bad"] = {"v": 1, "ts": "yesterday"}
    states["old"] = {"v": 0}
    restored = WaterRules(thresholds_for)
    restored.load(states)
    assert restored.meters() == 1
    assert set(restored.load_errors) == {"bad", "old"}
    assert restored.on_reading(Reading("good", at_h(1.25), 1025.0)).status == "accepted"


def test_a_restart_keeps_the_clear_hysteresis_and_the_outage_count():
    """Small rises adding up to a clear, and a link's recent outages, survive a restart mid-way."""
    def limits(_m: str) -> WaterThresholds:
        return resolve("elderly_alone", {"reporting_interval_min": 60, "offline_learn_h": 0})

    hourly = readings([0.0] * 14 + [1.0] + [0.0] * 2 + [1.0] + [0.0] * 10, step_min=60, meter="tick")
    flaky = [r for r in readings([1.0] * 120, step_min=60, meter="link")
             if not any(at_h(a) <= r.ts < at_h(b) for a, b in ((10, 16), (30, 38), (52, 62)))]
    events: list[Event] = sorted([(r.ts, "reading", r) for r in hourly + flaky],
                                 key=lambda e: (e[0], e[2].meter_id))  # type: ignore[union-attr]
    events += [(T0 + timedelta(hours=k, seconds=1), "advance", None) for k in range(120)]
    events.sort(key=lambda e: (e[0], e[1], getattr(e[2], "meter_id", "")))
    reference = play(WaterRules(limits), events)
    cut = next(i for i, e in enumerate(events) if e[0] >= at_h(15.5))  # after the first 1-L rise, mid-recovery
    rules = WaterRules(limits)
    got = play(rules, events[:cut])
    restored = WaterRules(limits)
    restored.load(json.loads(json.dumps(rules.dirty())))
    got += play(restored, events[cut:])
    assert [key(c) for c in got] == [key(c) for c in reference]
    ticks = [c for c in reference if c.subject == "tick" and c.type == "water.no_usage"]
    assert [c.state for c in ticks] == ["active", "cleared"] and ticks[-1].evidence["cleared_by"] == "small_uses"
