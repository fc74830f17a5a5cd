"""The scenario's plain types: what to generate, the meters, the ground truth, the messages.

`gridwatch eval water` reads these; simulators.water.scenario re-exports them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ingest.wire.timestamps import parse_ts, to_rfc3339

EventKind = Literal["fall", "leak", "tap_open", "silent", "register_reset", "away", "spike"]
EVENT_KINDS: tuple[str, ...] = ("fall", "leak", "tap_open", "silent", "register_reset", "away", "spike")
# The frugal and mixed scenarios add the leaks that the published 24-h rule misses or nearly misses.
HARD_EVENT_KINDS: tuple[str, ...] = EVENT_KINDS + ("night_drip", "cistern_leak")
MIXES = ("classic", "frugal", "mixed")


@dataclass(frozen=True)
class ScenarioSpec:
    meters: int = 20
    days: float = 3.0
    interval_min: float = 15.0  # reporting interval: 15 or 60
    seed: int = 1
    start: datetime | None = None  # default: now - days (UTC, rounded to the interval)
    elderly_share: float = 0.7
    events: bool = True  # inject events (falls, leaks, taps, silences, resets, absences, spikes)
    faults: bool = True  # transport faults (duplicates, reordering, late batches, malformed payloads)
    batch: int = 1  # readings per message (1 = single objects; >1 = {"readings": [...]})
    prefix: str = "meter"
    mixed_intervals: bool = False  # about a third of the meters report hourly, the rest every interval_min
    # classic: elderly and standard homes as the rules were written against; frugal: frugal elderly
    # homes only; mixed: frugal, late sleepers, night shifts, elderly and standard homes with
    # visitors, 10-L pulse meters, hourly meters and hourly batch uploads (simulators.water.kinds)
    mix: str = "classic"

    def __post_init__(self) -> None:
        if self.mix not in MIXES:
            raise ValueError(f"mix must be one of {', '.join(MIXES)}")
        if self.meters < 1 or self.days <= 0 or self.interval_min <= 0 or self.batch < 1:
            raise ValueError("meters, days, interval_min and batch must be positive")
        if not 0.0 <= self.elderly_share <= 1.0:
            raise ValueError("elderly_share must be in [0, 1]")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")


@dataclass(frozen=True)
class SimMeter:
    id: str
    profile: str  # "elderly_alone" | "standard"
    interval_min: float
    household: str
    kind: str = ""  # the household's kind ("" = by profile: elderly or standard)
    coarse_l: float = 0.0  # a pulse meter's register step (10 L); 0: a fine register
    upload_every: int = 1  # readings per upload: 4 = four 15-min readings sent once an hour

    @property
    def household_kind(self) -> str:
        return self.kind or ("elderly" if self.profile == "elderly_alone" else "standard")


@dataclass(frozen=True)
class TruthEvent:
    """One injected condition. `expect` and `tolerate` hold contract alert types ("water.no_usage")."""

    kind: str
    meter: str
    start: datetime
    end: datetime
    expect: tuple[str, ...]
    tolerate: tuple[str, ...]
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({
            "kind": self.kind, "meter": self.meter,
            "start": to_rfc3339(self.start), "end": to_rfc3339(self.end),
            "expect": list(self.expect), "tolerate": list(self.tolerate), "detail": self.detail,
        }, sort_keys=False)

    @classmethod
    def from_json(cls, line: str) -> TruthEvent:
        row = json.loads(line)
        return cls(row["kind"], row["meter"], parse_ts(row["start"]), parse_ts(row["end"]),
                   tuple(row["expect"]), tuple(row["tolerate"]), row.get("detail", {}))


@dataclass(frozen=True)
class SimMessage:
    topic_kind: str  # "reading" | "away"
    meter: str
    payload: bytes
    event_time: datetime  # the newest event time inside
    malformed: bool = False
    # When the message goes out, in event time: later than event_time for a late batch.
    publish_at: datetime | None = None
    fault: str | None = None  # "duplicate", "reordered", "late_batch", "malformed:<why>"

    @property
    def send_time(self) -> datetime:
        return self.publish_at or self.event_time
