"""The durable outbox: every alert change stays here until each sink has taken it.

The edge worker appends changes in the same SQLite transaction as its rule-state
checkpoint (on its own connection, `Outbox.append(conn, alerts)`), so a crash either
keeps both or neither; a replay after a crash appends the same changes again and the
UNIQUE change key makes that a no-op. The sender side (edge.dispatch_client) reads
pending items in seq order through this object's own connection.

Sinks: `http` (the dispatch endpoint; must be acknowledged, a permanent refusal is kept
as `rejected` for operators) and `mqtt` (the local `grid/alerts/{grid}` publication;
`skipped` when the edge runs without a broker).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ingest.wire.alert import Alert

log = logging.getLogger(__name__)

Sink = Literal["http", "mqtt"]
SINKS: tuple[Sink, ...] = ("http", "mqtt")
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,      -- AUTOINCREMENT: never reused after pruning
    change_key TEXT NOT NULL UNIQUE,
    alert_id TEXT NOT NULL,
    grid TEXT,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    http_state TEXT NOT NULL DEFAULT 'pending', -- pending | done | rejected
    http_done_at REAL,
    http_attempts INTEGER NOT NULL DEFAULT 0,
    http_last_error TEXT,
    reject_reason TEXT,
    mqtt_state TEXT NOT NULL DEFAULT 'pending', -- pending | done | skipped
    mqtt_done_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_http_pending ON outbox(seq) WHERE http_state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_mqtt_pending ON outbox(seq) WHERE mqtt_state = 'pending';
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    change_key: str
    alert_id: str
    grid: str | None
    payload: str  # the alert JSON exactly as it goes out
    created_at: float  # wall clock, epoch seconds
    attempts: int

    def alert(self) -> Alert:
        return Alert.model_validate_json(self.payload)


def _check_sink(sink: str) -> Sink:
    if sink not in SINKS:
        raise ValueError(f"unknown outbox sink {sink!r}; expected one of {SINKS}")
    return sink  # type: ignore[return-value]


class Outbox:
    """One SQLite file (WAL); this object's connection serves the sender threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._conn = self.connect(self.path, autocommit=True)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._create(self._conn)
            self._conn.execute("COMMIT")

    # -- writer side: used by the edge worker on its own connection -----------------------

    @staticmethod
    def connect(path: Path, *, autocommit: bool = False) -> sqlite3.Connection:
        """A connection set up for the outbox file: WAL, durable commits, a busy timeout.

        The worker may use it for its checkpoint transaction (default: Python's implicit
        transactions, the caller commits).
        """
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
            isolation_level=None if autocommit else "",
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that returned survives power loss, not only a process crash.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return conn

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)

    @classmethod
    def create_schema(cls, conn: sqlite3.Connection) -> None:
        """Create the outbox tables on the caller's connection (inside its transaction)."""
        cls._create(conn)

    @staticmethod
    def append(conn: sqlite3.Connection, alerts: Sequence[Alert]) -> int:
        """Insert `alerts` within the caller's transaction; the caller commits.

        Returns how many were new: a change already in the outbox (same change key) is
        not inserted again.
        """
        now = time.time()
        rows = [(a.change_key(), a.id, a.grid, a.to_json(), now) for a in alerts]
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO outbox(change_key, alert_id, grid, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        return conn.total_changes - before

    def append_now(self, alerts: Sequence[Alert]) -> int:
        """Append in a transaction of its own, commit, and wake the senders."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                added = self.append(self._conn, alerts)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        if added:
            self.notify()
        return added

    # -- wake-ups --------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> None:
        """`callback` runs after `append_now` and `notify` (the sender's wake())."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def notify(self) -> None:
        """Tell the senders that new items were committed (e.g. after the worker's checkpoint)."""
        for callback in list(self._listeners):
            callback()

    # -- sender side -----------------------------------------------------------------------

    def pending(self, sink: Sink, limit: int = 100) -> list[OutboxItem]:
        """Items the sink has not taken yet, oldest first (seq order is delivery order)."""
        sink = _check_sink(sink)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT seq, change_key, alert_id, grid, payload, created_at, http_attempts"
                f" FROM outbox WHERE {sink}_state = 'pending' ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [OutboxItem(*row) for row in rows]

    def _update(self, sql: str, params: Iterable[tuple[Any, ...]]) -> int:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                before = self._conn.total_changes
                self._conn.executemany(sql, params)
                changed = self._conn.total_changes - before
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return changed

    def mark_done(self, sink: Sink, seqs: Iterable[int]) -> int:
        sink = _check_sink(sink)
        now = time.time()
        return self._update(
            f"UPDATE outbox SET {sink}_state = 'done', {sink}_done_at = ? WHERE seq = ? AND {sink}_state = 'pending'",
            [(now, seq) for seq in seqs],
        )

    def mark_skipped(self, seqs: Iterable[int]) -> int:
        """The mqtt sink is not configured: these will never be published locally."""
        now = time.time()
        return self._update(
            "UPDATE outbox SET mqtt_state = 'skipped', mqtt_done_at = ? WHERE seq = ? AND mqtt_state = 'pending'",
            [(now, seq) for seq in seqs],
        )

    def mark_rejected(self, seq: int, reason: str) -> None:
        """The endpoint refused the payload for good: keep it for operators, stop retrying."""
        changed = self._update(
            "UPDATE outbox SET http_state = 'rejected', http_done_at = ?, reject_reason = ?"
            " WHERE seq = ? AND http_state = 'pending'",
            [(time.time(), reason[:2000], seq)],
        )
        if changed:
            log.error("outbox item %d rejected by the dispatch endpoint, kept for operators: %s", seq, reason[:300])

    def note_attempt(self, seq: int, error: str) -> None:
        """Count a failed delivery attempt of an item and keep its last error (for operators)."""
        self._update(
            "UPDATE outbox SET http_attempts = http_attempts + 1, http_last_error = ? WHERE seq = ?",
            [(error[:500], seq)],
        )

    def rejected(self, limit: int = 100) -> list[tuple[OutboxItem, str]]:
        """Rejected items with their reasons, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, change_key, alert_id, grid, payload, created_at, http_attempts, reject_reason"
                " FROM outbox WHERE http_state = 'rejected' ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [(OutboxItem(*row[:7]), row[7] or "") for row in rows]

    def stats(self) -> dict[str, float | int | None]:
        now = time.time()
        with self._lock:
            row = self._conn.execute(
                """SELECT
                     COUNT(*),
                     SUM(http_state = 'pending'), SUM(mqtt_state = 'pending'),
                     SUM(http_state = 'done'), SUM(mqtt_state = 'done'),
                     SUM(http_state = 'rejected'), SUM(mqtt_state = 'skipped'),
                     MIN(CASE WHEN http_state = 'pending' THEN created_at END),
                     MIN(CASE WHEN mqtt_state = 'pending' THEN created_at END),
                     MAX(seq)
                   FROM outbox"""
            ).fetchone()
        total, p_http, p_mqtt, d_http, d_mqtt, rejected, skipped, o_http, o_mqtt, last_seq = row
        return {
            "total": total,
            "pending_http": p_http or 0,
            "pending_mqtt": p_mqtt or 0,
            "delivered_http": d_http or 0,
            "delivered_mqtt": d_mqtt or 0,
            "rejected": rejected or 0,
            "skipped_mqtt": skipped or 0,
            "oldest_pending_http_s": None if o_http is None else max(0.0, now - o_http),
            "oldest_pending_mqtt_s": None if o_mqtt is None else max(0.0, now - o_mqtt),
            "last_seq": last_seq,
        }

    def prune(self, older_than_days: float, *, rejected_older_than_days: float | None = None) -> int:
        """Delete rows every sink has finished with more than N days ago; rejected rows stay
        unless `rejected_older_than_days` is given. Returns the number deleted."""
        now = time.time()
        cutoff = now - older_than_days * 86400
        deleted = self._update(
            "DELETE FROM outbox WHERE http_state = 'done' AND mqtt_state != 'pending'"
            " AND http_done_at < ? AND COALESCE(mqtt_done_at, 0) < ?",
            [(cutoff, cutoff)],
        )
        if rejected_older_than_days is not None:
            cutoff_rejected = now - rejected_older_than_days * 86400
            deleted += self._update(
                "DELETE FROM outbox WHERE http_state = 'rejected' AND mqtt_state != 'pending' AND http_done_at < ?",
                [(cutoff_rejected,)],
            )
        return deleted

    def close(self) -> None:
        with self._lock:
            self._conn.close()
