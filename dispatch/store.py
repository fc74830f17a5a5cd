"""The dispatch store: every edge change, each alert's current view and place in the loop,
the audit trail, the durable SLA timers and the event log that feeds screens and phones.

SQLite in WAL mode with synchronous=FULL. Every write goes through one `write()`
transaction, so an edge change, the dispatch it causes, its timers and its feed event are
committed together or not at all, and the endpoint's 2xx is a promise. Listeners are told
the newest event seq after each commit (the feed hub and the pusher wake on it).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from dispatch.sla import Timer
from dispatch.store_rows import (
    ALERT_COLUMNS,
    DISPATCH_COLUMNS,
    PutResult,
    StoredAlert,
    StoredChange,
    stored_alert,
    supersedes,
)
from dispatch.store_tx import Tx
from ingest.decode import condense
from ingest.wire.alert import STORED, Alert
from ingest.wire.dispatch import FeedEvent, Transition

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
__all__ = ["AlertStore", "PutResult", "StoredAlert", "StoredChange", "Tx", "supersedes"]

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
    """CREATE TABLE IF NOT EXISTS transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        at REAL NOT NULL,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS transitions_by_alert ON transitions(alert_id, id)",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        queue TEXT NOT NULL,
        kind TEXT NOT NULL,
        at REAL NOT NULL,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_queue ON events(queue, seq)",
    """CREATE TABLE IF NOT EXISTS timers (
        alert_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        level INTEGER NOT NULL,
        due_at REAL NOT NULL,
        PRIMARY KEY (alert_id, kind, level)
    )""",
    "CREATE INDEX IF NOT EXISTS timers_by_due ON timers(due_at)",
    # Feed events that could not be read back (a store written before evidence was bounded, a bug, a
    # damaged row): skipped by every reader from then on, kept here for an operator to look at.
    """CREATE TABLE IF NOT EXISTS quarantined_events (
        seq INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        error TEXT NOT NULL
    )""",
]


class AlertStore:
    """One connection shared by the request threads behind a lock (writes serialise anyway)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[int], None]] = []
        self.quarantined = 0  # feed events quarantined by this process
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                                     isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                self._conn.execute(statement)
            self._migrate()
            self._conn.execute("COMMIT")
        # Reads get their own connection: in WAL mode they then never wait behind a commit's
        # fsync (a push reading a snapshot, the feed, the page's lists during a burst of POSTs).
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                       isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)

    def _migrate(self) -> None:
        """A store written before the dispatch loop existed gains its columns."""
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(alerts)")}
        for name, sql_type in DISPATCH_COLUMNS:
            if name not in have:
                self._conn.execute(f"ALTER TABLE alerts ADD COLUMN {name} {sql_type}")

    # -- writing --------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One durable transaction; listeners hear of its events after the commit."""
        with self._lock:
            tx = Tx(self._conn)
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            newest = tx.newest_seq
        if newest:
            self._tell(newest)

    def put(self, alert: Alert, received_at: float | None = None, *, queue: str | None = None) -> PutResult:
        """Store one edge change (idempotent on its content) and its feed event; no routing
        (dispatch.service does that inside the same kind of transaction)."""
        now = time.time() if received_at is None else received_at
        with self.write() as tx:
            result = tx.put_change(alert, now, queue or alert.grid or "unassigned")
            if result.stored:
                tx.add_event("change", alert.id, now)
        return result

    # -- listeners ------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[int], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[int], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def _tell(self, seq: int) -> None:
        for callback in list(self._listeners):
            try:
                callback(seq)
            except Exception:  # a listener's bug must not fail a committed write
                log.exception("store listener failed")

    # -- reading --------------------------------------------------------------------------

    def query(
        self,
        *,
        queues: Collection[str] | None = None,
        queue: str | None = None,
        state: str | None = None,
        alert_type: str | None = None,
        dispatch_states: Collection[str] | None = None,
        limit: int = 100,
    ) -> list[StoredAlert]:
        """Current views, newest change first. `queues` restricts (a worker's grids); `queue`
        filters (a grid id or 'unassigned')."""
        where: list[str] = []
        params: list[object] = []
        for column, allowed in (("queue", queues), ("dispatch_state", dispatch_states)):
            if allowed is not None:
                if not allowed:
                    return []
                where.append(f"{column} IN ({', '.join('?' * len(allowed))})")
                params += sorted(allowed)
        for column, value in (("queue", queue), ("state", state), ("type", alert_type)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (f"SELECT {ALERT_COLUMNS} FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY last_change_id DESC LIMIT ?")
        with self._read_lock:
            rows = self._reader.execute(sql, (*params, limit)).fetchall()
        return [stored_alert(row) for row in rows]

    def get(self, alert_id: str) -> StoredAlert | None:
        with self._read_lock:
            row = self._reader.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return stored_alert(row) if row else None

    def history(self, alert_id: str) -> list[StoredChange]:
        """Every edge change received for the alert, in the order received."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT id, received_at, applied, payload FROM alert_changes WHERE alert_id = ? ORDER BY id",
                (alert_id,),
            ).fetchall()
        return [StoredChange(row[0], row[1], bool(row[2]), Alert.model_validate_json(row[3], context=STORED))
                for row in rows]

    def transitions(self, alert_id: str) -> list[Transition]:
        """The loop's steps for the alert, oldest first: the audit trail."""
        with self._read_lock:
            rows = self._reader.execute("SELECT body FROM transitions WHERE alert_id = ? ORDER BY id",
                                      (alert_id,)).fetchall()
        return [Transition.model_validate_json(row[0]) for row in rows]

    def events_after(self, seq: int, *, queues: Collection[str] | None = None, limit: int = 500) -> list[FeedEvent]:
        """Feed events after `seq`, oldest first; `queues` None: all. An event that cannot be read back is
        quarantined and skipped, so no reader (the feed, the pusher's persisted cursor) stops at it."""
        if queues is not None and not queues:
            return []
        sql = ("SELECT seq, body FROM events WHERE seq > ? AND seq NOT IN (SELECT seq FROM quarantined_events)"
               + _queue_filter(queues) + " ORDER BY seq LIMIT ?")
        params = (seq, *sorted(queues or ()), limit)
        while True:
            with self._read_lock:
                rows = self._reader.execute(sql, params).fetchall()
            events, bad = [], []
            for row_seq, body in rows:
                try:
                    events.append(FeedEvent.model_validate_json(body, context=STORED))
                except ValidationError as exc:
                    bad.append((row_seq, condense(exc, root="event")))
            if not bad:
                return events
            self._quarantine(bad)  # then read the page again: it is full again without them

    def _quarantine(self, bad: list[tuple[int, str]]) -> None:
        with self._lock:
            self._conn.executemany("INSERT OR IGNORE INTO quarantined_events(seq, at, error) VALUES (?, ?, ?)",
                                   [(seq, time.time(), error) for seq, error in bad])
        for seq, error in bad:
            self.quarantined += 1
            log.error("feed event %d cannot be read back (%s): quarantined, every reader skips it", seq, error)

    def quarantined_events(self) -> list[tuple[int, str]]:
        """(seq, why) of the events skipped because they could not be read back."""
        with self._read_lock:
            return self._reader.execute("SELECT seq, error FROM quarantined_events ORDER BY seq").fetchall()

    def last_seq(self) -> int:
        with self._read_lock:
            return self._reader.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]

    def next_due(self) -> float | None:
        """When the next SLA timer falls due (epoch s), None when none is pending."""
        with self._read_lock:
            return self._reader.execute("SELECT MIN(due_at) FROM timers").fetchone()[0]

    def timers_of(self, alert_id: str) -> list[Timer]:
        with self._read_lock:
            rows = self._reader.execute("SELECT kind, level, due_at FROM timers WHERE alert_id = ? ORDER BY due_at",
                                      (alert_id,)).fetchall()
        return [Timer(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._read_lock:
            changes = self._reader.execute("SELECT COUNT(*) FROM alert_changes").fetchone()[0]
            alerts = self._reader.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
            timers = self._reader.execute("SELECT COUNT(*) FROM timers").fetchone()[0]
        return {"changes": changes, "alerts": alerts, "timers": timers, "events": self.last_seq()}

    def since(self, epoch_s: float, queues: Collection[str] | None = None) -> list[StoredAlert]:
        """Alerts received or moved in the loop since `epoch_s` (today's figures)."""
        sql = (f"SELECT {ALERT_COLUMNS} FROM alerts WHERE (first_change_at >= ? OR dispatched_at >= ?"
               " OR resolved_at >= ? OR dispatch_state IN ('new', 'dispatched', 'accepted', 'on_site'))")
        if queues is not None and not queues:
            return []
        sql += _queue_filter(queues)
        params: list[object] = [epoch_s] * 3 + sorted(queues or ())
        with self._read_lock:
            rows = self._reader.execute(sql, params).fetchall()
        return [stored_alert(row) for row in rows]

    def ping(self) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1").fetchone() == (1,)

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._conn.close()


def _queue_filter(queues: Collection[str] | None) -> str:
    """` AND queue IN (?, ...)` for a caller limited to some queues (their values go last, sorted)."""
    return "" if queues is None else f" AND queue IN ({', '.join('?' * len(queues))})"
