"""Payload bytes of the contract, built from the wire models, in the timestamp forms meters use.

The contract allows RFC 3339 with an offset, epoch seconds and epoch milliseconds; the wire
model always writes RFC 3339 in UTC, so the simulator rewrites `ts` per meter to exercise all
three. Malformed payloads (for the transport faults) are built here too, next to the good ones.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from ingest.wire.timestamps import to_epoch_ms, to_rfc3339
from ingest.wire.water import AwayPayload, Reading, ReadingBatchPayload, ReadingPayload

TS_FORMS = ("rfc3339", "rfc3339_offset", "epoch_s", "epoch_ms")
TS_FORM_WEIGHTS = (0.6, 0.2, 0.1, 0.1)
_CST = timezone(timedelta(hours=8))


def format_ts(moment: datetime, form: str) -> str | int | float:
    if form == "rfc3339_offset":
        return moment.astimezone(_CST).isoformat(timespec="seconds" if not moment.microsecond else "milliseconds")
    if form == "epoch_s":
        seconds = round(moment.timestamp(), 3)
        return int(seconds) if seconds == int(seconds) else seconds
    if form == "epoch_ms":
        return to_epoch_ms(moment)
    return to_rfc3339(moment)


# The wire model's own fields: Reading carries the same names, already valid, so the hot path
# skips a validation round per reading (the tests decode every payload with the wire models).
_FIELDS = tuple(ReadingPayload.model_fields)
_BATCH_KEY = next(iter(ReadingBatchPayload.model_fields))


def _dicts(readings: list[Reading], form: str) -> list[dict[str, Any]]:
    rows = []
    for reading in readings:
        row = {name: value for name in _FIELDS if (value := getattr(reading, name)) is not None}
        row["ts"] = format_ts(reading.ts, form)
        rows.append(row)
    return rows


def encode_readings(readings: list[Reading], form: str = "rfc3339") -> bytes:
    """One reading as an object, several as a batch `{"readings": [...]}`."""
    rows = _dicts(readings, form)
    body: dict[str, Any] = rows[0] if len(rows) == 1 else {_BATCH_KEY: rows}
    return json.dumps(body, separators=(",", ":")).encode()


def encode_away(start: datetime, until: datetime) -> bytes:
    return AwayPayload(from_=start, until=until).model_dump_json(by_alias=True).encode()


MALFORMED_KINDS = ("not_json", "nan", "negative", "wrong_type", "far_future", "missing_total", "truncated")


def malformed(reading: Reading, kind: str) -> bytes:
    """A payload that the contract rejects, shaped like one that meter would send."""
    good = _dicts([reading], "rfc3339")[0]
    if kind == "not_json":
        return f"ts={good['ts']};total={good['total_l']}".encode()
    if kind == "nan":
        return json.dumps({**good, "total_l": float("nan")}).encode()  # json writes NaN: not JSON
    if kind == "negative":
        return json.dumps({**good, "total_l": -abs(good["total_l"]) - 1.0}).encode()
    if kind == "wrong_type":
        return json.dumps({**good, "total_l": str(good["total_l"])}).encode()
    if kind == "far_future":
        return json.dumps({**good, "ts": to_rfc3339(reading.ts + timedelta(days=3650))}).encode()
    if kind == "missing_total":
        return json.dumps({k: v for k, v in good.items() if k != "total_l"}).encode()
    if kind == "truncated":
        return json.dumps(good).encode()[:-7]
    raise ValueError(f"unknown malformed kind {kind!r}")
