"""The contract's three timestamp forms: RFC 3339 with offset, epoch seconds, epoch ms."""

from __future__ import annotations

import math
from datetime import UTC, datetime

# Epoch values above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 1e11


class TimestampError(ValueError):
    """A timestamp that is not one of the contract's three forms."""


def parse_ts(value: object) -> datetime:
    """Return an aware UTC datetime from RFC 3339 text, epoch seconds or epoch milliseconds."""
    if isinstance(value, bool):
        raise TimestampError("timestamp is a boolean")
    if isinstance(value, datetime):  # models built in code (rules, tests) pass datetimes
        if value.tzinfo is None:
            raise TimestampError("datetime without a time zone")
        return value.astimezone(UTC)
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise TimestampError("timestamp is not finite")
        if abs(seconds) >= _MS_THRESHOLD:
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise TimestampError(f"timestamp out of range: {value!r}") from exc
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise TimestampError("timestamp is empty")
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and text.replace(".", "", 1).lstrip("-").isdigit():
            return parse_ts(number)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise TimestampError(f"not RFC 3339 or epoch: {text[:40]!r}") from exc
        if parsed.tzinfo is None:
            raise TimestampError("RFC 3339 timestamp without an offset")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # year 1 with a positive offset, 9999 with a negative one
            raise TimestampError(f"timestamp out of range in UTC: {text[:40]!r}") from None
    raise TimestampError(f"timestamp of type {type(value).__name__}")


def to_rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, millisecond precision when needed."""
    moment = moment.astimezone(UTC)
    # Four-digit years always: strftime's %Y writes the year 910 as "910", which no parser reads back
    # (a stored alert that could not be read again, found by tests/dispatch/test_fuzz_api.py).
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    # Only whole milliseconds travel, so what is sent parses back to the same text.
    if moment.microsecond // 1000:
        return f"{text}.{moment.microsecond // 1000:03d}Z"
    return text + "Z"


def to_epoch_ms(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))
