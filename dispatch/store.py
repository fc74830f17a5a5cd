"""The dispatch alert store: append-only history of changes and the current view per alert.

SQLite in WAL mode with synchronous=FULL: `put` returns only after the change is
committed durably, so the endpoint's 2xx is a promise. A change that is older than the
one in the current view (lower revision, or a stale 'active' after 'cleared') is kept in
the history but does not roll the view back. Alerts without a grid go to the
`unassigned` queue.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ingest.wire.alert import Alert

UNASSIGNED = "unassigned"
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS alert_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        change_key TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        severity TEXT NOT NULL,
        revision INTEGER,
        received_at REAL NOT NULL,
        applied INTEGER NOT NULL,
        payload TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS alert_changes_by_alert ON alert_changes(alert_id, id)",
    """CREATE TABLE IF NOT EXISTS alerts (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        subject TEXT NOT NULL,
        building TEXT,
        queue TEXT NOT NULL,
        state TEXT NOT NULL,
        severity TEXT NOT NULL,
        revision INTEGER,
        first_change_at REAL NOT NULL,
        last_change_at REAL NOT NULL,
        last_change_id INTEGER NOT NULL,
        changes INTEGER NOT NULL,
        dispatch_state TEXT NOT NULL DEFAULT 'new',
        payload TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS alerts_by_queue ON alerts(queue, last_change_id)",
    "CREATE INDEX IF NOT EXISTS alerts_by_recency ON alerts(last_change_id)",
]


def queue_of(alert: Alert) -> str:
    return alert.grid or UNASSIGNED


def supersedes(current_state: str, current_revision: int | None, incoming: Alert) -> bool:
    """Whether `incoming` may replace the current view (pure; the history keeps every change).

    Revisions decide when both sides have one; otherwise, or on a tie, only a stale
    'active' arriving after 'cleared' is held back.
    """
    if current_revision is not None and incoming.revision is not None and incoming.revision != current_revision:
        return incoming.revision > current_revision
    return not (current_state == "cleared" and incoming.state == "active")


@dataclass(frozen=True, slots=True)
class PutResult:
    stored: bool  # a new change was written to the history
    duplicate: bool  # the same change was already there
    applied: bool  # the current view moved to this change
    change_id: int | None


@dataclass(frozen=True, slots=True)
class StoredAlert:
    alert: Alert  # the change the current view shows
    queue: str
    dispatch_state: str
    first_change_at: float
    last_change_at: float
    last_change_id: int
    changes: int


@dataclass(frozen=True, slots=True)
class StoredChange:
    change_id: int
    received_at: float
    applied: bool
    alert: Alert


class AlertStore:
    """One connection shared by the request threads behind a lock (writes serialise anyway)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                                     isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        with self._lock, self._transaction():
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def put(self, alert: Alert, received_at: float | None = None) -> PutResult:
        """Store one change durably; idempotent on the change key."""
        now = time.time() if received_at is None else received_at
        payload = alert.to_json()
        with self._lock, self._transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO alert_changes(alert_id, change_key, state, severity, revision, received_at,"
                " applied, payload) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (alert.id, alert.change_key(), alert.state, alert.severity, alert.revision, now, payload),
            )
            if cursor.rowcount == 0:
                return PutResult(stored=False, duplicate=True, applied=False, change_id=None)
            change_id = cursor.lastrowid
            current = self._conn.execute("SELECT state, revision FROM alerts WHERE id = ?", (alert.id,)).fetchone()
            if current is None:
                self._conn.execute(
                    "INSERT INTO alerts(id, type, subject, building, queue, state, severity, revision,"
                    " first_change_at, last_change_at, last_change_id, changes, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                    (alert.id, alert.type, alert.subject, alert.building, queue_of(alert), alert.state,
                     alert.severity, alert.revision, now, now, change_id, payload),
                )
                applied = True
            else:
                applied = supersedes(current[0], current[1], alert)
                if applied:
                    self._conn.execute(
                        "UPDATE alerts SET type = ?, subject = ?, building = ?, queue = ?, state = ?, severity = ?,"
                        " revision = ?, last_change_at = ?, last_change_id = ?, changes = changes + 1, payload = ?"
                        " WHERE id = ?",
                        (alert.type, alert.subject, alert.building, queue_of(alert), alert.state, alert.severity,
                         alert.revision, now, change_id, payload, alert.id),
                    )
                else:
                    self._conn.execute("UPDATE alerts SET changes = changes + 1 WHERE id = ?", (alert.id,))
            if applied:
                self._conn.execute("UPDATE alert_changes SET applied = 1 WHERE id = ?", (change_id,))
        return PutResult(stored=True, duplicate=False, applied=applied, change_id=change_id)

    def query(
        self,
        *,
        queues: Collection[str] | None = None,
        queue: str | None = None,
        state: str | None = None,
        alert_type: str | None = None,
        limit: int = 100,
    ) -> list[StoredAlert]:
        """Current views, newest change first. `queues` restricts (a worker's grids); `queue`
        filters (a grid id or 'unassigned')."""
        where: list[str] = []
        params: list[object] = []
        if queues is not None:
            if not queues:
                return []
            where.append(f"queue IN ({', '.join('?' * len(queues))})")
            params += sorted(queues)
        for column, value in (("queue", queue), ("state", state), ("type", alert_type)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (
            "SELECT payload, queue, dispatch_state, first_change_at, last_change_at, last_change_id, changes"
            " FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY last_change_id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [_stored(row) for row in rows]

    def get(self, alert_id: str) -> StoredAlert | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT payload, queue, dispatch_state, first_change_at, last_change_at, last_change_id, changes"
                " FROM alerts WHERE id = ?",
                (alert_id,),
            ).fetchone()
        return _stored(row) if row else None

    def history(self, alert_id: str) -> list[StoredChange]:
        """Every change received for the alert, in the order received."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, received_at, applied, payload FROM alert_changes WHERE alert_id = ? ORDER BY id",
                (alert_id,),
            ).fetchall()
        return [StoredChange(row[0], row[1], bool(row[2]), Alert.model_validate_json(row[3])) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            changes = self._conn.execute("SELECT COUNT(*) FROM alert_changes").fetchone()[0]
            alerts = self._conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        return {"changes": changes, "alerts": alerts}

    def ping(self) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1").fetchone() == (1,)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _stored(row: tuple) -> StoredAlert:
    return StoredAlert(Alert.model_validate_json(row[0]), *row[1:])


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
