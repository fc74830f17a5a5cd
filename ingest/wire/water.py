"""Water meter payloads: `grid/water/{meter_id}/reading` and `grid/water/{meter_id}/away`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from ingest.wire.timestamps import parse_ts, to_rfc3339

# Bounds of what a household meter can say; beyond them a payload is rejected, not clipped.
MAX_REGISTER_L = 1e9  # a million cubic metres
MAX_FLOW_LPM = 1000.0  # far above any household pipe
MAX_BATCH = 10_000

Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_ts),
    PlainSerializer(to_rfc3339, return_type=str),
]


class ReadingPayload(BaseModel):
    """One meter reading as it travels; `meter_id` comes from the topic."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ts: Timestamp
    total_l: float = Field(strict=True, ge=0, le=MAX_REGISTER_L, allow_inf_nan=False)
    flow_lpm: float | None = Field(
        default=None, strict=True, ge=0, le=MAX_FLOW_LPM, allow_inf_nan=False
    )
    battery_v: float | None = Field(default=None, strict=True, ge=0, le=50, allow_inf_nan=False)
    seq: int | None = Field(default=None, strict=True, ge=0)


class ReadingBatchPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    readings: list[ReadingPayload] = Field(min_length=1, max_length=MAX_BATCH)


class AwayPayload(BaseModel):
    """The resident is away in [from, until]: no-usage alerts are suppressed in that span."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    from_: Timestamp = Field(alias="from")
    until: Timestamp

    def model_post_init(self, _context: object) -> None:
        if self.until <= self.from_:
            raise ValueError("'until' must be after 'from'")


@dataclass(frozen=True, slots=True)
class Reading:
    """A validated reading of one meter, the currency of ingest and the water rules."""

    meter_id: str
    ts: datetime
    total_l: float
    flow_lpm: float | None = None
    battery_v: float | None = None
    seq: int | None = None

    @classmethod
    def from_payload(cls, meter_id: str, payload: ReadingPayload) -> Reading:
        return cls(
            meter_id,
            payload.ts,
            payload.total_l,
            payload.flow_lpm,
            payload.battery_v,
            payload.seq,
        )

    def to_payload(self) -> ReadingPayload:
        return ReadingPayload(
            ts=self.ts,
            total_l=self.total_l,
            flow_lpm=self.flow_lpm,
            battery_v=self.battery_v,
            seq=self.seq,
        )


@dataclass(frozen=True, slots=True)
class AwayNotice:
    meter_id: str
    start: datetime
    until: datetime


def dump_readings(readings: list[ReadingPayload]) -> bytes:
    """Serialise one reading as an object, several as a batch."""
    if len(readings) == 1:
        return readings[0].model_dump_json(exclude_none=True).encode()
    return ReadingBatchPayload(readings=readings).model_dump_json(exclude_none=True).encode()
