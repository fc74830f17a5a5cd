"""Scenario generation: determinism, ground truth that the readings bear out, faults that are only faults."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ingest.registry import Registry
from ingest.wire.water import AwayPayload, Reading, ReadingBatchPayload, ReadingPayload
from rules.water.thresholds import resolve
from simulators.water.households import LOCAL_OFFSET_S
from simulators.water.model import EVENT_KINDS
from simulators.water.scenario import Scenario, ScenarioSpec, SimMessage, TruthEvent, generate

START = datetime(2025, 1, 6, tzinfo=UTC)
EXPECTED = {
    "leak": ("water.continuous_flow",),
    "silent": ("water.meter_offline",),
    "register_reset": ("water.meter_tamper",),
    "away": (),
    "spike": ("water.spike",),
}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(ScenarioSpec(start=START))


def decode(message: SimMessage) -> list[Reading]:
    body = json.loads(message.payload)
    payloads = ReadingBatchPayload.model_validate(body).readings if "readings" in body else [
        ReadingPayload.model_validate(body)]
    return [Reading.from_payload(message.meter, p) for p in payloads]


def by_meter(readings: list[Reading]) -> dict[str, list[Reading]]:
    out: dict[str, list[Reading]] = defaultdict(list)
    for r in readings:
        out[r.meter_id].append(r)
    return out


def test_same_seed_same_scenario_other_seed_other_scenario(scenario: Scenario) -> None:
    again = generate(ScenarioSpec(start=START))
    assert [m.payload for m in again.messages] == [m.payload for m in scenario.messages]
    assert again.truth == scenario.truth
    other = generate(ScenarioSpec(start=START, seed=2))
    assert [m.payload for m in other.messages[:50]] != [m.payload for m in scenario.messages[:50]]


def test_faults_change_neither_readings_nor_truth(scenario: Scenario) -> None:
    clean = generate(ScenarioSpec(start=START, faults=False))
    assert list(clean.readings()) == list(scenario.readings())
    assert clean.truth == scenario.truth
    assert not any(m.fault or m.malformed for m in clean.messages)
    assert len(clean.messages) == len(clean.clean) + len(clean.notices)


def test_a_third_to_a_half_of_the_meters_get_one_event_of_every_kind(scenario: Scenario) -> None:
    kinds = Counter(e.kind for e in scenario.truth)
    assert set(kinds) == set(EVENT_KINDS)
    meters = [e.meter for e in scenario.truth]
    assert len(meters) == len(set(meters))  # never two on one meter: they would overlap
    assert len(scenario.meters) / 3 <= len(meters) <= len(scenario.meters) / 2
    profiles = {m.id: m.profile for m in scenario.meters}
    for event in scenario.truth:
        assert START <= event.start <= event.end <= scenario.end
        if event.kind in EXPECTED:
            assert event.expect == EXPECTED[event.kind], event
        if event.kind == "fall":
            assert profiles[event.meter] == "elderly_alone"
    assert profiles[next(e.meter for e in scenario.truth if e.kind == "away")] == "elderly_alone"


def test_no_events_means_no_truth_and_no_away_notices() -> None:
    plain = generate(ScenarioSpec(start=START, events=False, meters=6))
    assert plain.truth == [] and plain.away_notices() == []


def test_readings_bear_out_the_truth(scenario: Scenario) -> None:
    meters = {m.id: m for m in scenario.meters}
    series = by_meter(list(scenario.readings()))
    for event in scenario.truth:
        rows = series[event.meter]
        interval = timedelta(minutes=meters[event.meter].interval_min)
        inside = [r for r in rows if event.start < r.ts < event.end]
        if event.kind == "fall":
            quiet = [r for r in rows if event.start + interval <= r.ts < event.end]
            assert len({r.total_l for r in quiet}) == 1, "no water at all while the resident lies there"
            if event.expect:
                assert event.detail["quiet_h"] >= 12
                assert quiet[-1].ts - quiet[0].ts >= timedelta(hours=12) - interval
        elif event.kind == "leak":
            hours = int((event.end - event.start) / timedelta(hours=1))
            assert hours >= 26
            for h in range(1, hours):  # some water in every hour of it
                window = [r.total_l for r in rows if event.start + timedelta(hours=h - 1) <= r.ts
                          <= event.start + timedelta(hours=h) + interval]
                assert window[-1] > window[0]
        elif event.kind == "tap_open":
            assert all(r.flow_lpm >= 6.0 for r in inside)
            assert 30 <= event.detail["minutes"] <= 120
            assert bool(event.expect) == (event.detail["minutes"] >= 45 + interval.total_seconds() / 60)
        elif event.kind == "silent":
            assert inside == []
            before = [r for r in rows if r.ts <= event.start][-1]
            after = [r for r in rows if r.ts >= event.end][0]
            assert after.ts - before.ts >= 3 * max(interval, timedelta(hours=1))
        elif event.kind == "register_reset":
            before = [r for r in rows if r.ts < event.start][-1]
            after = [r for r in rows if r.ts >= event.start][0]
            # About zero, plus what the home used between the reset and the next report.
            assert before.total_l > 1000 and after.total_l < event.detail["register_after_l"] + 200
        elif event.kind == "away":
            notice = next(n for n in scenario.away_notices() if n.meter_id == event.meter)
            assert notice.start <= event.start and notice.until >= event.end
            assert len({r.total_l for r in inside}) <= 1  # nobody home, no water
            sent = next(m for m in scenario.messages if m.topic_kind == "away" and m.meter == event.meter)
            assert sent.send_time < event.start  # the notice comes first
            assert AwayPayload.model_validate_json(sent.payload).until == notice.until
        elif event.kind == "spike":
            local = event.start + timedelta(seconds=LOCAL_OFFSET_S)
            day_start = datetime(local.year, local.month, local.day, tzinfo=UTC) - timedelta(seconds=LOCAL_OFFSET_S)
            day = [r.total_l for r in rows if day_start <= r.ts < day_start + timedelta(days=1)]
            assert day[-1] - day[0] > 1000


def test_register_is_monotone_except_at_a_reset(scenario: Scenario) -> None:
    resets = {e.meter for e in scenario.truth if e.kind == "register_reset"}
    for meter, rows in by_meter(list(scenario.readings())).items():
        drops = [b for a, b in zip(rows, rows[1:], strict=False) if b.total_l < a.total_l]
        assert len(drops) == (1 if meter in resets else 0), meter
        assert [r.seq for r in rows] == sorted(r.seq for r in rows)
        assert all(3.4 < r.battery_v < 3.8 and r.flow_lpm <= 60 for r in rows)


def test_clean_elderly_homes_never_look_like_no_use(scenario: Scenario) -> None:
    """Every 12 h of a meter without an event holds 10 L or more: an alert there is a false alarm."""
    eventful = {e.meter for e in scenario.truth}
    elderly = [m.id for m in scenario.meters if m.profile == "elderly_alone" and m.id not in eventful]
    series = by_meter(list(scenario.readings()))
    assert elderly
    for meter in elderly:
        rows = series[meter]
        for i, r in enumerate(rows):
            later = [x for x in rows[i:] if x.ts <= r.ts + timedelta(hours=12)]
            if later[-1].ts - r.ts >= timedelta(hours=11.5):
                assert later[-1].total_l - r.total_l >= 10, (meter, r.ts)


def test_faults_are_flagged_and_lose_nothing(scenario: Scenario) -> None:
    faults = Counter((m.fault or "none").split(":")[0] for m in scenario.messages)
    readings_msgs = sum(1 for m in scenario.messages if m.topic_kind == "reading" and not m.malformed)
    assert 0.004 <= faults["duplicate"] / readings_msgs <= 0.025
    assert faults["reordered"] >= 1 and faults["late_batch"] >= 1
    malformed = [m for m in scenario.messages if m.malformed]
    assert 0.003 <= len(malformed) / len(scenario.messages) <= 0.01
    assert all(m.fault and m.fault.startswith("malformed:") for m in malformed)
    received: set[tuple[str, datetime, float]] = set()
    for message in scenario.messages:
        if message.topic_kind != "reading":
            continue
        if message.malformed:
            if message.fault == "malformed:far_future":
                assert decode(message)[0].ts > datetime.now(UTC) + timedelta(days=365)
            else:
                with pytest.raises((ValidationError, ValueError)):
                    decode(message)
            continue
        received |= {(r.meter_id, r.ts, r.total_l) for r in decode(message)}
    expected = {(r.meter_id, r.ts, r.total_l) for r in [*scenario.readings(), *scenario.backlog]}
    assert received == expected


def test_timestamps_come_in_all_three_forms() -> None:
    wide = generate(ScenarioSpec(start=START, meters=40, events=False, faults=False))
    forms = Counter()
    for message in wide.messages:
        ts = json.loads(message.payload)["ts"]
        forms["epoch_ms" if isinstance(ts, int) and ts > 1e11 else "epoch_s" if not isinstance(ts, str)
              else "utc" if ts.endswith("Z") else "offset"] += 1
    assert set(forms) == {"epoch_ms", "epoch_s", "utc", "offset"}
    assert forms["utc"] > len(wide.messages) / 2


def test_batches_carry_the_same_readings() -> None:
    batched = generate(ScenarioSpec(start=START, meters=5, batch=4, faults=False))
    sizes = Counter(len(decode(m)) for m in batched.messages if m.topic_kind == "reading")
    assert max(sizes) == 4 and sum(n * c for n, c in sizes.items()) == len(batched.clean)
    for message in batched.messages:
        if message.topic_kind == "reading":
            assert message.event_time == max(r.ts for r in decode(message))


def test_default_start_ends_near_now_and_mixed_intervals() -> None:
    recent = generate(ScenarioSpec(meters=9, days=1.0, mixed_intervals=True, events=False))
    newest = max(r.ts for r in recent.readings())
    assert timedelta(0) <= datetime.now(UTC) - newest <= timedelta(hours=1, minutes=1)
    assert {m.interval_min for m in recent.meters} == {15.0, 60.0}


def test_write_gives_truth_and_a_valid_registry(scenario: Scenario, tmp_path: Path) -> None:
    scenario.write(tmp_path)
    lines = (tmp_path / "truth.jsonl").read_text().splitlines()
    assert [TruthEvent.from_json(line) for line in lines] == scenario.truth
    registry = Registry.model_validate(yaml.safe_load((tmp_path / "registry.yaml").read_text()))
    assert [m.id for m in registry.meters] == [m.id for m in scenario.meters]
    assert all(registry.place_of_meter(m.id)[1] for m in scenario.meters)  # every meter has a grid
    for meter in registry.meters:
        assert resolve(meter.profile, meter.thresholds).reporting_interval_min == 15.0
    summary = json.loads((tmp_path / "messages.json").read_text())
    assert summary["messages"] == len(scenario.messages) and summary["events"]["fall"] >= 1
    assert len(json.loads((tmp_path / "meters.json").read_text())) == len(scenario.meters)


def test_bad_spec_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="positive"):
        ScenarioSpec(meters=0)
    with pytest.raises(ValueError, match="time zone"):
        ScenarioSpec(start=datetime(2025, 1, 1))
