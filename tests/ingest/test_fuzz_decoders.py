"""Property tests (hypothesis) of the payload decoders, the timestamp parser and the rule state machines: no
input crashes them, every rejected payload has a reason that starts with a fixed word (what dead letters are
counted by), and a timestamp written is a timestamp read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ingest.decode import Rejected, decode_away, decode_readings
from ingest.wire.elevator import ElevatorStatus
from ingest.wire.timestamps import TimestampError, parse_ts, to_rfc3339
from ingest.wire.water import Reading
from rules.elevator.ebike import EbikeRule
from rules.elevator.tracker import Detection
from rules.water import WaterRules
from rules.water.thresholds import WaterThresholds

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=30)
TS = st.one_of(
    st.integers(), st.floats(), st.text(max_size=30), st.booleans(), st.none(),
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1e400", "-0", "NaN", "  12 "]),
)
READING = st.fixed_dictionaries({"ts": TS, "total_l": LEAF}, optional={"flow_lpm": LEAF, "battery_v": LEAF,
                                                                     "seq": st.integers(), "x": JSON})


def payloads() -> st.SearchStrategy[bytes]:
    as_json = st.one_of(READING, st.builds(lambda r: {"readings": r}, st.lists(READING, max_size=30)), JSON)
    return st.one_of(as_json.map(lambda v: json.dumps(v, allow_nan=True).encode()), st.binary(max_size=300))


def fixed_word(reason: str) -> bool:
    head = reason.split(":", 1)[0]
    return bool(head) and len(head) <= 40 and "{" not in head and '"' not in head


@FUZZ
@given(payload=payloads())
def test_decode_readings_never_crashes_and_every_rejection_has_a_reason(payload: bytes) -> None:
    try:
        decoded = decode_readings("m-1", payload, NOW, max_future_skew_s=300, earliest=EARLIEST)
    except Rejected as exc:
        assert fixed_word(exc.reason), exc.reason
        return
    for index, reason in decoded.rejected:
        assert fixed_word(reason), reason
        assert json.loads(decoded.rejected_raw[index]) is not None or decoded.rejected_raw[index] == b"null"
    for reading in decoded.readings:
        assert EARLIEST <= reading.ts <= NOW + timedelta(seconds=300)


@FUZZ
@given(start=TS, until=TS, extra=JSON)
def test_decode_away_never_crashes(start: object, until: object, extra: object) -> None:
    payload = json.dumps({"from": start, "until": until, "x": extra}).encode()
    try:
        notice = decode_away("m-1", payload, NOW)
    except Rejected as exc:
        assert fixed_word(exc.reason), exc.reason
        return
    assert notice.start < notice.until <= notice.start + timedelta(days=400)


@FUZZ
@given(value=TS)
def test_parse_ts_gives_a_utc_datetime_or_a_timestamp_error(value: object) -> None:
    try:
        parsed = parse_ts(value)
    except TimestampError:
        return
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


@FUZZ
@given(moment=st.datetimes(timezones=st.timezones()))
def test_a_timestamp_written_reads_back_to_the_same_millisecond(moment: datetime) -> None:
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        return  # not representable in UTC: parse_ts refuses such text (tested above)
    assert parse_ts(to_rfc3339(moment)) == utc.replace(microsecond=utc.microsecond // 1000 * 1000)


@FUZZ
@given(doc=st.fixed_dictionaries({"ts": TS, "door": st.sampled_from(["open", "closed", "ajar", 1, None])},
                                 optional={"floor": LEAF}))
def test_elevator_status_is_valid_or_a_validation_error(doc: dict) -> None:
    try:
        ElevatorStatus.model_validate_json(json.dumps(doc, allow_nan=True))
    except ValidationError:
        pass


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(steps=st.lists(st.tuples(st.floats(-3600, 7 * 86400), st.floats(-1e6, 1e6, allow_nan=False),
                                st.none() | st.floats(0, 1000)), min_size=1, max_size=80))
def test_water_rules_take_any_sequence_of_readings_and_close_what_they_open(steps: list) -> None:
    rules = WaterRules(lambda _meter: WaterThresholds())
    opened: set[str] = set()
    for offset_s, total, flow in steps:
        reading = Reading("m-1", NOW + timedelta(seconds=offset_s), max(total, 0.0), flow)
        outcome = rules.on_reading(reading)
        for change in outcome.changes:
            (opened.add if change.state == "active" else opened.discard)(change.id)
        rules.advance(NOW + timedelta(seconds=offset_s))
    assert {c.id for c in rules.open_episodes()} == opened  # every raise is open until its clear, once
    json.dumps(rules.dirty())  # the state of any sequence persists


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(frames=st.lists(st.tuples(st.floats(-5, 600), st.lists(st.tuples(
    st.floats(-100, 2000), st.floats(-100, 2000), st.floats(0, 500), st.floats(0, 500), st.floats(0, 1),
    st.sampled_from(["ebike", "bicycle", "person"])), max_size=4)), min_size=1, max_size=60))
def test_the_ebike_rule_takes_any_detections_and_never_holds_a_door_it_does_not_release(frames: list) -> None:
    rule = EbikeRule()
    held = set()
    for offset_s, boxes in frames:
        detections = [Detection((x, y, x + w, y + h), score, label) for x, y, w, h, score, label in boxes]
        decision = rule.on_frame("e-1", NOW + timedelta(seconds=offset_s), detections, (720, 1280))
        for command in decision.commands:
            if command.action == "hold_door":
                held.add(command.alert_id)
            elif command.action == "release_door":
                held.discard(command.alert_id)
    open_id = rule.open_alert_id("e-1")
    assert held <= ({open_id} if open_id else set())  # a held door belongs to the open episode, or none is held
