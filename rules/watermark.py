"""The fleet watermark: how far event time has certainly come, across all meters.

It is the newest event time seen, less the allowed lateness. When the whole fleet falls
silent (the building's network is down), event time stops; so once no reading at all has
arrived for `idle_advance_s` of wall time, the watermark moves on with the wall clock from
where the events left it. A time-compressed replay keeps it on event time (readings keep
coming), a silent fleet still gets its meter_offline alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass
class Watermark:
    allowed_lateness_s: float = 0.0
    idle_advance_s: float = 60.0
    newest_event: float | None = None  # epoch seconds
    last_arrival_wall: float | None = None  # wall clock (epoch s) of the last reading

    def observe(self, event_ts: datetime, wall_now: float) -> None:
        ts = event_ts.timestamp()
        if self.newest_event is None or ts > self.newest_event:
            self.newest_event = ts
        self.last_arrival_wall = wall_now

    def value(self, wall_now: float) -> datetime | None:
        """The watermark at wall time `wall_now`; None before the first reading."""
        if self.newest_event is None:
            return None
        mark = self.newest_event - self.allowed_lateness_s
        if self.last_arrival_wall is not None:
            idle = wall_now - self.last_arrival_wall
            if idle > self.idle_advance_s:
                mark += idle
        return datetime.fromtimestamp(mark, tz=UTC)

    def to_state(self) -> dict[str, float | None]:
        return {"newest_event": self.newest_event, "last_arrival_wall": self.last_arrival_wall}

    def load(self, state: dict[str, float | None]) -> None:
        self.newest_event = state.get("newest_event")
        self.last_arrival_wall = state.get("last_arrival_wall")

    def lateness_of(self, event_ts: datetime) -> timedelta | None:
        """How far behind the newest event time a reading is (None before the first)."""
        if self.newest_event is None:
            return None
        return timedelta(seconds=max(0.0, self.newest_event - event_ts.timestamp()))
