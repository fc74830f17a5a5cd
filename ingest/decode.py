"""Payload decoding and validation: bytes from MQTT in, validated readings out, no I/O.

A payload that cannot be trusted raises `Rejected` with a short reason an operator can
read; the caller dead-letters it. The reason's category is the part before the first ':'
(`DeadLetterSink` counts by it), so reasons start with a fixed word, never with a value.

Batches: a payload that is not a valid batch *structure* (not JSON, `readings` not a
list, empty, too long) is rejected whole. Inside a valid structure each bad reading is
dropped alone and listed in `Decoded.rejected` as (index, reason), its own JSON in
`Decoded.rejected_raw[index]`, so one bad reading does not cost its 999 good neighbours.

Hot path: one `model_validate_json` call per payload (pydantic's Rust JSON parser); the
slow path (`json.loads` and per-item validation) runs only when something is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from ingest.wire.timestamps import to_rfc3339
from ingest.wire.water import (
    MAX_BATCH,
    AwayNotice,
    AwayPayload,
    Reading,
    ReadingBatchPayload,
    ReadingPayload,
)

METER_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # the default of edge config `ingest.earliest_ts`
MAX_SEQ = 2**63 - 1  # what a time-series store can hold as an integer
_REASON_MAX = 160


class Rejected(Exception):
    """A payload that is rejected whole; `reason` is short, readable and free of secrets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:_REASON_MAX]

    @property
    def category(self) -> str:
        return category(self.reason)


def category(reason: str) -> str:
    """The part of a reason before the first ':' (what dead letters are counted by)."""
    return reason.split(":", 1)[0].strip() or "unknown"


@dataclass(frozen=True, slots=True)
class Decoded:
    """The good readings of a payload, sorted by ts; the bad ones of a batch as (index, reason)."""

    readings: list[Reading]
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rejected_raw: dict[int, bytes] = field(default_factory=dict)  # index -> that reading's own JSON


# --- reasons -----------------------------------------------------------------------------

_SHORT: dict[str, str] = {
    "missing": "required",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "finite_number": "must be finite",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
}
_BOUNDS: dict[str, tuple[str, str]] = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _short_msg(error: Any) -> str:
    kind = error["type"]
    if kind in _SHORT:
        return _SHORT[kind]
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return f"must be {op} {error.get('ctx', {}).get(key, '?'):g}"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def condense(exc: ValidationError, root: str = "payload") -> str:
    """The first pydantic error as 'field: msg' (plus how many more), never the input value."""
    errors = exc.errors(include_url=False, include_input=False, include_context=True)
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"]) or root
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {_short_msg(first)}{more}"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- checks shared by single readings and batch items ------------------------------------


def _check_meter_id(meter_id: str) -> None:
    if not METER_ID_RE.match(meter_id):
        raise Rejected("meter_id: must be 1-64 characters of A-Z a-z 0-9 _ . -")


def _check_ts(ts: datetime, field_name: str, now: datetime, max_future_skew_s: float, earliest: datetime) -> None:
    ahead = (ts - now).total_seconds()
    if ahead > max_future_skew_s:
        raise Rejected(f"{field_name}: {_span(ahead)} ahead of the clock")
    if ts < earliest:
        raise Rejected(f"{field_name}: before {to_rfc3339(earliest)}")


def _to_reading(meter_id: str, payload: ReadingPayload, now: datetime, skew: float, earliest: datetime) -> Reading:
    _check_ts(payload.ts, "ts", now, skew, earliest)
    if payload.seq is not None and payload.seq > MAX_SEQ:
        raise Rejected(f"seq: must be <= {MAX_SEQ}")
    return Reading.from_payload(meter_id, payload)


def _check_size(payload: bytes, max_payload_bytes: int) -> None:
    if len(payload) > max_payload_bytes:
        raise Rejected(f"too large: {len(payload)} bytes, the limit is {max_payload_bytes}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_loads(payload: bytes) -> Any:
    """json.loads that explains what is wrong: bad UTF-8, bad JSON, NaN/Infinity."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"not UTF-8: invalid byte at offset {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise Rejected(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # from _refuse_constant
        raise Rejected(f"not JSON: {exc}") from None
    except RecursionError:
        raise Rejected("not JSON: nested too deeply") from None


def _may_hold_constant(payload: bytes) -> bool:
    # pydantic's parser accepts NaN/Infinity; a cheap byte search sends suspects to json.loads.
    return b"NaN" in payload or b"Infinity" in payload


def _validate_json(model: type[BaseModel], payload: bytes) -> Any:
    """model_validate_json; a JSON-level failure is re-diagnosed by json.loads for a clear reason."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            _strict_loads(payload)  # raises Rejected with the precise reason
            raise Rejected("not JSON: invalid") from None
        if first["loc"] == () and first["type"] in ("model_type", "model_attributes_type"):
            raise Rejected("not an object: expected a JSON object") from None
        raise


# --- public ------------------------------------------------------------------------------


def decode_readings(
    meter_id: str,
    payload: bytes,
    now: datetime,
    *,
    max_future_skew_s: float,
    earliest: datetime,
    max_payload_bytes: int = 1_000_000,
) -> Decoded:
    """Decode one reading or a `{"readings": [...]}` batch from `grid/water/{meter_id}/reading`.

    Raises Rejected when the payload is rejected whole (for a single reading: whenever it is
    bad). A batch's bad readings are dropped one by one and listed in `Decoded.rejected`.
    """
    _check_meter_id(meter_id)
    _check_size(payload, max_payload_bytes)
    if _may_hold_constant(payload):
        _strict_loads(payload)
    if b'"readings"' in payload:
        decoded = _decode_batch(meter_id, payload, now, max_future_skew_s, earliest)
        if decoded is not None:
            return decoded
    try:
        single = _validate_json(ReadingPayload, payload)
    except ValidationError as exc:
        raise Rejected(condense(exc)) from None
    return Decoded([_to_reading(meter_id, single, now, max_future_skew_s, earliest)])


def _decode_batch(meter_id: str, payload: bytes, now: datetime, skew: float, earliest: datetime) -> Decoded | None:
    """The batch in `payload`, or None when it has no `readings` key (a single reading)."""
    try:
        batch = _validate_json(ReadingBatchPayload, payload)
        items: list[ReadingPayload | None] = list(batch.readings)
        raws: list[Any] | None = None
        bad: list[tuple[int, str]] = []
        bad_raw: dict[int, bytes] = {}
    except ValidationError as exc:
        if _reject_batch_structure(exc):
            return None
        # Only some readings are bad: validate them one by one to keep the good ones.
        raws = _strict_loads(payload)["readings"]
        items, bad, bad_raw = [], [], {}
        for index, raw in enumerate(raws):
            try:
                items.append(ReadingPayload.model_validate(raw))
            except ValidationError as item_exc:
                items.append(None)
                bad.append((index, condense(item_exc, root="reading")))
                bad_raw[index] = _dump(raw)
    readings: list[Reading] = []
    for index, item in enumerate(items):
        if item is None:
            continue
        try:
            readings.append(_to_reading(meter_id, item, now, skew, earliest))
        except Rejected as exc:
            raw = raws[index] if raws is not None else item.model_dump(mode="json", exclude_none=True)
            bad.append((index, exc.reason))
            bad_raw[index] = _dump(raw)
    readings.sort(key=_ts_key)
    bad.sort()
    return Decoded(readings, bad, bad_raw)


def _ts_key(reading: Reading) -> datetime:
    return reading.ts


def _reject_batch_structure(exc: ValidationError) -> bool:
    """Raise Rejected unless every error is inside one reading of a well-formed list.

    True when the object has no `readings` at all: it is a single reading after all.
    """
    errors = exc.errors(include_url=False, include_input=False)
    if len(errors) == 1 and errors[0]["loc"] == ("readings",) and errors[0]["type"] == "missing":
        return True
    for error in errors:
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "readings" and isinstance(loc[1], int):
            continue
        if loc == ("readings",) and error["type"] == "too_long":
            actual = error.get("ctx", {}).get("actual_length", "?")
            raise Rejected(f"batch: {actual} readings exceed the limit of {MAX_BATCH}") from None
        if loc == ("readings",) and error["type"] == "too_short":
            raise Rejected("batch: empty") from None
        if loc == ("readings",):
            raise Rejected(f"batch: readings {_short_msg(error)}") from None
        raise Rejected(condense(exc)) from None
    return False


def _dump(raw: Any) -> bytes:
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode()


def decode_away(
    meter_id: str,
    payload: bytes,
    now: datetime,
    *,
    earliest: datetime = EARLIEST,
    max_span: timedelta = timedelta(days=400),
    max_payload_bytes: int = 10_000,
) -> AwayNotice:
    """Decode `grid/water/{meter_id}/away`: `{"from": ts, "until": ts}`.

    An away span may lie in the future (a planned trip); it may not start before `earliest`,
    start more than `max_span` ahead of `now`, or last longer than `max_span` (a typo must
    not silence no-usage alerts for years).
    """
    _check_meter_id(meter_id)
    _check_size(payload, max_payload_bytes)
    if _may_hold_constant(payload):
        _strict_loads(payload)
    try:
        away = _validate_json(AwayPayload, payload)
    except ValidationError as exc:
        if exc.errors()[0]["loc"] == ():  # AwayPayload.model_post_init: until <= from
            raise Rejected("until: must be after 'from'") from None
        raise Rejected(condense(exc)) from None
    except ValueError:  # the same check, should pydantic stop wrapping it
        raise Rejected("until: must be after 'from'") from None
    if away.from_ < earliest:
        raise Rejected(f"from: before {to_rfc3339(earliest)}")
    ahead = (away.from_ - now).total_seconds()
    if ahead > max_span.total_seconds():
        raise Rejected(f"from: {_span(ahead)} ahead of the clock, the limit is {max_span.days} days")
    span = away.until - away.from_
    if span > max_span:
        raise Rejected(f"until: away for {_span(span.total_seconds())}, the limit is {max_span.days} days")
    return AwayNotice(meter_id, away.from_, away.until)
