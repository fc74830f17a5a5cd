"""Response bodies of the dispatch HTTP API (the alert itself is ingest.wire.alert.Alert).

An alert as dispatch shows it is the alert JSON plus a `dispatch` object, the same shape
that goes to a worker's phone (`grid/workers/{id}/notify`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from dispatch.store import StoredAlert, StoredChange
from ingest.wire.alert import Alert
from ingest.wire.water import Timestamp


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


class DispatchInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: str  # the dispatch lifecycle: new, then dispatched, accepted, on_site, resolved, rated
    queue: str  # the grid id, or "unassigned"
    first_change_at: Timestamp  # when dispatch received the first / latest change (wall clock)
    last_change_at: Timestamp
    changes: int  # changes received, including stale ones kept only in the history
    has_snapshot: bool


class AlertView(Alert):
    dispatch: DispatchInfo

    @classmethod
    def of(cls, stored: StoredAlert, *, with_snapshot: bool) -> AlertView:
        alert = stored.alert
        info = DispatchInfo(
            state=stored.dispatch_state,
            queue=stored.queue,
            first_change_at=_at(stored.first_change_at),
            last_change_at=_at(stored.last_change_at),
            changes=stored.changes,
            has_snapshot=alert.snapshot_jpeg_b64 is not None,
        )
        fields = alert.model_dump(mode="json")
        if not with_snapshot:
            fields["snapshot_jpeg_b64"] = None  # lists stay small; the detail carries it
        return cls(**fields, dispatch=info)


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
        return cls(change_id=change.change_id, received_at=_at(change.received_at), applied=change.applied,
                   alert=change.alert)


class AlertDetail(AlertView):
    history: list[ChangeView]


class PostResult(BaseModel):
    id: str
    stored: bool
    duplicate: bool
    applied: bool


class Health(BaseModel):
    status: str
