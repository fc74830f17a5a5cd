"""Rows of the dispatch store as typed objects, and the rule that orders edge changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.wire.alert import STORED, Alert
from ingest.wire.dispatch import AlertView, DispatchInfo

# Columns the dispatch loop added to `alerts` (a store from before them is migrated).
DISPATCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("assignee", "TEXT"),
    ("dispatched_at", "REAL"),
    ("accepted_at", "REAL"),
    ("on_site_at", "REAL"),
    ("resolved_at", "REAL"),
    ("rated_at", "REAL"),
    ("score", "INTEGER"),
    ("accept_due", "REAL"),
    ("resolve_due", "REAL"),
    ("escalation", "INTEGER NOT NULL DEFAULT 0"),
)
ALERT_COLUMNS = ", ".join(
    ["payload", "queue", "dispatch_state", "first_change_at", "last_change_at", "last_change_id", "changes"]
    + [name for name, _ in DISPATCH_COLUMNS]
)


def supersedes(current_state: str, current_revision: int | None, incoming: Alert) -> bool:
    """Whether `incoming` may replace the current view (pure; the history keeps every change).

    Revisions decide when both sides have one; otherwise, or on a tie, only a stale
    'active' arriving after 'cleared' is held back.
    """
    if current_revision is not None and incoming.revision is not None and incoming.revision != current_revision:
        return incoming.revision > current_revision
    return not (current_state == "cleared" and incoming.state == "active")


def at(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, tz=UTC)


@dataclass(frozen=True, slots=True)
class PutResult:
    stored: bool  # a new change was written to the history
    duplicate: bool  # the same change was already there
    applied: bool  # the current view moved to this change
    change_id: int | None
    created: bool = False  # the first change of this alert


@dataclass(frozen=True, slots=True)
class StoredAlert:
    alert: Alert  # the change the current view shows
    queue: str
    dispatch_state: str
    first_change_at: float
    last_change_at: float
    last_change_id: int
    changes: int
    assignee: str | None = None
    dispatched_at: float | None = None
    accepted_at: float | None = None
    on_site_at: float | None = None
    resolved_at: float | None = None
    rated_at: float | None = None
    score: int | None = None
    accept_due: float | None = None
    resolve_due: float | None = None
    escalation: int = 0

    def info(self, reason: str | None = None) -> DispatchInfo:
        return DispatchInfo(
            state=self.dispatch_state, queue=self.queue, assignee=self.assignee,
            dispatched_at=at(self.dispatched_at), accepted_at=at(self.accepted_at), on_site_at=at(self.on_site_at),
            resolved_at=at(self.resolved_at), rated_at=at(self.rated_at), score=self.score,
            accept_due=at(self.accept_due), resolve_due=at(self.resolve_due), escalation=self.escalation,
            first_change_at=at(self.first_change_at), last_change_at=at(self.last_change_at), changes=self.changes,
            has_snapshot=self.alert.snapshot_jpeg_b64 is not None, reason=reason,
        )

    def view(self, *, with_snapshot: bool) -> AlertView:
        fields = self.alert.model_dump(mode="json")
        if not with_snapshot:
            fields["snapshot_jpeg_b64"] = None  # lists and feeds stay small; the detail carries it
            fields["evidence"] = {k: v for k, v in fields["evidence"].items() if k != "clip_preview_jpeg_b64"}
        return AlertView.model_validate({**fields, "dispatch": self.info()}, context=STORED)


@dataclass(frozen=True, slots=True)
class StoredChange:
    change_id: int
    received_at: float
    applied: bool
    alert: Alert


def stored_alert(row: tuple) -> StoredAlert:
    return StoredAlert(Alert.model_validate_json(row[0], context=STORED), *row[1:])
