"""The pusher's own durable state: how far it has read dispatch's event log, and every delivery it owes.
With the SQLite store it is `state_dir/push.sqlite` (WAL); with PostgreSQL the `push_` tables of the
dispatch database (store_schema.py), so the replica that leads the pushes next takes over the cursor
and the pending deliveries of the one before.

At-least-once: the deliveries of a batch of events and the cursor past them are written in one
transaction before any is tried; a delivery is marked done only after its channel acknowledged it.
A crash between the acknowledgement and the mark repeats that one push, never loses one.
synchronous=NORMAL is enough for that: a commit lost in a power cut rolls the cursor back together
with its deliveries, and they are made again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from dispatch.store_db import Db, SqliteDb

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS cursor (id INTEGER PRIMARY KEY CHECK (id = 0), seq INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS deliveries (
        key TEXT PRIMARY KEY,          -- seq/recipient/channel
        seq INTEGER NOT NULL,          -- dispatch's event
        alert_id TEXT NOT NULL,
        recipient TEXT NOT NULL,       -- worker id, or station:<id>
        channel TEXT NOT NULL,         -- "mqtt", or "apprise:<fingerprint of the URL>" (no secrets here)
        event_at REAL NOT NULL,        -- when dispatch committed the event: where push latency starts
        message TEXT NOT NULL,         -- NotifyMessage JSON, without the snapshot
        state TEXT NOT NULL,           -- pending | done | expired | dropped
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        done_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(seq) WHERE state = 'pending'",
]


@dataclass(frozen=True, slots=True)
class Delivery:
    key: str
    seq: int
    alert_id: str
    recipient: str
    channel: str
    event_at: float
    message: str
    attempts: int = 0

    @staticmethod
    def make_key(seq: int, recipient: str, channel: str) -> str:
        return f"{seq}/{recipient}/{channel}"


class Ledger:
    """`Ledger(path)`: its own SQLite file; `Ledger.on(db)`: the `push_` tables of a PostgreSQL store."""

    def __init__(self, path: Path | None = None, *, db: Db | None = None, prefix: str = "") -> None:
        self._lock = threading.Lock()
        self._cursor_table, self._table = f"{prefix}cursor", f"{prefix}deliveries"
        if db is None:
            assert path is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            db = SqliteDb(path, synchronous="NORMAL")
            for statement in _SCHEMA:
                db.execute(statement)
        self._conn = db

    @classmethod
    def on(cls, db: Db) -> Ledger:
        return cls(db=db, prefix="push_")

    def _sql(self, sql: str) -> str:
        return sql.replace("{cursor}", self._cursor_table).replace("{deliveries}", self._table)

    def cursor(self) -> int:
        with self._lock:
            row = self._conn.execute(self._sql("SELECT seq FROM {cursor} WHERE id = 0")).fetchone()
        return row[0] if row else 0

    def admit(self, cursor: int, deliveries: list[Delivery]) -> None:
        """Record new deliveries as pending and move the cursor, atomically; a delivery already known
        (an event read twice) is left as it is."""
        with self._lock:
            self._conn.begin()
            try:
                self._conn.executemany(
                    self._sql("INSERT INTO {deliveries}(key, seq, alert_id, recipient, channel, event_at, message,"
                              " state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (key) DO NOTHING"),
                    [(d.key, d.seq, d.alert_id, d.recipient, d.channel, d.event_at, d.message) for d in deliveries],
                )
                self._conn.execute(
                    self._sql("INSERT INTO {cursor}(id, seq) VALUES (0, ?)"
                              " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq"),
                    (cursor,),
                )
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise

    def pending(self) -> list[Delivery]:
        with self._lock:
            rows = self._conn.execute(self._sql(
                "SELECT key, seq, alert_id, recipient, channel, event_at, message, attempts FROM {deliveries}"
                " WHERE state = 'pending' ORDER BY seq, key"
            )).fetchall()
        return [Delivery(*row) for row in rows]

    def done(self, key: str, at: float) -> None:
        self._set(key, "UPDATE {deliveries} SET state = 'done', attempts = attempts + 1, done_at = ? WHERE key = ?",
                  (at, key))

    def failed(self, key: str, error: str) -> None:
        self._set(key, "UPDATE {deliveries} SET attempts = attempts + 1, last_error = ? WHERE key = ?",
                  (error[:500], key))

    def give_up(self, key: str, state: str, error: str, at: float) -> None:
        """`expired` (too old to matter) or `dropped` (can never succeed)."""
        self._set(key, "UPDATE {deliveries} SET state = ?, last_error = ?, done_at = ? WHERE key = ?",
                  (state, error[:500], at, key))

    def states(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute(self._sql("SELECT state, COUNT(*) FROM {deliveries} GROUP BY state")).fetchall()
        return dict(rows)

    def prune(self, before: float) -> int:
        """Forget finished deliveries older than `before` (epoch s); pending ones are kept."""
        with self._lock:
            cursor = self._conn.execute(
                self._sql("DELETE FROM {deliveries} WHERE state != 'pending' AND done_at < ?"), (before,)
            )
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _set(self, key: str, sql: str, params: tuple) -> None:
        with self._lock:
            self._conn.execute(self._sql(sql), params)
