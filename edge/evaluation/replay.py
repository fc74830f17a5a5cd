"""Replay readings through the water rules in process, as the worker would see them."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.wire.water import AwayNotice, Reading
from rules.episode import AlertChange
from rules.water import WaterRules
from rules.water.thresholds import WaterThresholds

AWAY_LEAD = timedelta(hours=1)  # an away notice is posted before the absence starts


@dataclass(frozen=True, slots=True)
class Episode:
    """An alert episode as a grid worker saw it: first raised, worst severity, cleared."""

    id: str
    type: str
    subject: str
    started_at: datetime
    raised_at: datetime
    cleared_at: datetime | None
    severity: str


def replay(
    readings: Iterable[Reading],
    thresholds_for: Callable[[str], WaterThresholds],
    away: Iterable[AwayNotice] = (),
) -> list[AlertChange]:
    """All alert changes of the rules over readings in the order given, as the worker does it.

    The fleet watermark is the newest event time seen before each reading (no lateness);
    the worker advances the rules to it before every reading, and so does this.
    """
    rules = WaterRules(thresholds_for)
    notices = [(n.start - AWAY_LEAD, i, n) for i, n in enumerate(away)]
    heapq.heapify(notices)
    changes: list[AlertChange] = []
    newest: datetime | None = None
    for reading in readings:
        while notices and notices[0][0] <= reading.ts:
            changes += rules.on_away(heapq.heappop(notices)[2])
        if newest is not None:
            changes += rules.advance(newest)
        changes += rules.on_reading(reading).changes
        if newest is None or reading.ts > newest:
            newest = reading.ts
    return changes


def episodes(changes: Iterable[AlertChange]) -> list[Episode]:
    by_id: dict[str, Episode] = {}
    rank = {"info": 0, "warning": 1, "critical": 2}
    for change in changes:
        seen = by_id.get(change.id)
        if seen is None:
            seen = Episode(change.id, change.type, change.subject, change.started_at, change.raised_at,
                           None, change.severity)
        severity = max(seen.severity, change.severity, key=rank.__getitem__)
        cleared = change.cleared_at if change.state == "cleared" else seen.cleared_at
        by_id[change.id] = Episode(seen.id, seen.type, seen.subject, seen.started_at, seen.raised_at,
                                   cleared, severity)
    return sorted(by_id.values(), key=lambda e: (e.raised_at, e.id))
