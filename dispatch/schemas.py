"""Response bodies of the dispatch HTTP API. The alert, its `dispatch` object, the
transition and the lifecycle body are wire formats: ingest.wire.alert and ingest.wire.dispatch.
"""

from __future__ import annotations

from pydantic import BaseModel

from dispatch.store import StoredChange
from dispatch.store_rows import at
from ingest.wire.alert import Alert
from ingest.wire.dispatch import AlertView, Transition
from ingest.wire.water import Timestamp


class AlertList(BaseModel):
    alerts: list[AlertView]
    count: int


class ChangeView(BaseModel):
    change_id: int
    received_at: Timestamp
    applied: bool  # False: older than the current view, kept for the record only
    alert: Alert

    @classmethod
    def of(cls, change: StoredChange) -> ChangeView:
        return cls(change_id=change.change_id, received_at=at(change.received_at), applied=change.applied,
                   alert=change.alert)


class AlertDetail(AlertView):
    history: list[ChangeView]  # every edge change received
    transitions: list[Transition]  # the loop's steps: the audit trail


class PostResult(BaseModel):
    id: str
    stored: bool
    duplicate: bool
    applied: bool


class Health(BaseModel):
    status: str


class TodayFigures(BaseModel):
    """Today's figures of the command center, in dispatch's time zone, over the caller's grids."""

    date: str
    timezone: str
    received: int  # alerts first received today
    dispatched: int  # given to a worker today
    accepted: int
    resolved: int
    rated: int
    completion_rate: float | None  # of the alerts dispatched today, the share resolved
    response_s_p50: float | None  # dispatch → accept, alerts accepted today
    response_s_p90: float | None
    resolve_s_p50: float | None  # dispatch → resolve, alerts resolved today
    overdue: int  # open alerts past a deadline now
    active_by_grid: dict[str, dict[str, int]]  # open alerts: queue → severity → count
    received_by_type: dict[str, int] = {}  # alerts first received today, by alert type
    received_by_hour: list[int] = []  # the same, by local hour 0-23 (24 numbers)
