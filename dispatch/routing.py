"""Who gets an alert: building → grid (dispatch's own registry) → the workers on duty.

Pure functions of the registry, the local time and each worker's open load, so a table of
cases tests them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ingest.registry import WEEKDAYS, Grid, Registry, Shift
from ingest.wire.alert import Alert

UNASSIGNED = "unassigned"


def grid_of(alert: Alert, registry: Registry) -> str | None:
    """The grid whose workers answer for this alert, or None (the unassigned queue).

    The building as dispatch's registry places it wins over the edge's `grid`: a building
    moved to another grid is routed by the registry the dispatch center keeps current."""
    if alert.building is not None:
        _, grid = registry.place(alert.building)
        if grid is not None:
            return grid
    return alert.grid if registry.grid(alert.grid) is not None else None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def shift_covers(shift: Shift, local: datetime) -> bool:
    """Whether `local` (the dispatch's local time) falls in the shift; overnight shifts belong
    to the day they start on."""
    start, end = _minutes(shift.start), _minutes(shift.end)
    now = local.hour * 60 + local.minute
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    if start < end:
        return today in shift.days and start <= now < end
    # Over midnight (or start == end: around the clock from start).
    return (today in shift.days and now >= start) or (yesterday in shift.days and now < end)


def on_duty(grid: Grid, local: datetime) -> list[str]:
    """The grid's workers on duty now, in roster order; no roster: all of its workers."""
    if not grid.duty:
        return list(grid.workers)
    seen: dict[str, None] = {}
    for shift in grid.duty:
        if shift_covers(shift, local):
            seen.update(dict.fromkeys(shift.workers))
    return list(seen)


@dataclass(frozen=True, slots=True)
class Route:
    queue: str  # grid id or "unassigned"
    assignee: str | None  # None: nobody to give it to (shown as 待派单 until an operator assigns)
    why: str  # for the audit trail


def route(alert: Alert, registry: Registry, local: datetime, open_load: Mapping[str, int]) -> Route:
    """Pick the on-duty worker with the fewest open alerts (roster order breaks ties); with
    nobody on duty, the grid leader is on call."""
    grid_id = grid_of(alert, registry)
    grid = registry.grid(grid_id)
    if grid is None:
        return Route(UNASSIGNED, None, "no grid for this building: unassigned queue")
    candidates = on_duty(grid, local)
    if candidates:
        order = {w: i for i, w in enumerate(candidates)}
        pick = min(candidates, key=lambda w: (open_load.get(w, 0), order[w]))
        return Route(grid.id, pick, f"on duty in {grid.id} ({len(candidates)} on duty, {open_load.get(pick, 0)} open)")
    if grid.leader is not None:
        return Route(grid.id, grid.leader, f"nobody on duty in {grid.id}: the grid leader is on call")
    return Route(grid.id, None, f"nobody on duty in {grid.id} and no leader")


def local_time(epoch_s: float, timezone: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(epoch_s, tz=ZoneInfo(timezone))


