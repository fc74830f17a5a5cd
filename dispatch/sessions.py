"""Page sessions: the cookie carries an opaque, random session id, never the bearer token.

A session stands for the token it was opened with, kept only as that token's sha256: the principal is
worked out afresh on every request, so a token removed from the registry or the environment ends its
sessions too. Sessions are kept only as the sha256 of their id (a copy of the table opens no session),
expire after `max_age_s`, and are deleted at logout.

Where they live follows the store, as the push ledger does: with the embedded SQLite store, their own
file in `state_dir` (a dispatch restart keeps screens logged in); with PostgreSQL, the `page_sessions`
table of the shared database (store_schema.py migration 4), so a screen logged in through one replica
is known to every replica, and a logout on one ends the session on all at once (no cache anywhere:
each request reads the table, one indexed lookup).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dispatch.store_db import Db, SqliteDb

log = logging.getLogger(__name__)

SESSION_FILE = "sessions.sqlite"
MAX_SESSIONS = 10_000  # the oldest go first past this: logins cannot fill the disk
TABLE = "page_sessions"
# One definition of the table, for the file and for the store's migration.
SCHEMA = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id_sha256 BLOB PRIMARY KEY, token_sha256 BLOB NOT NULL,"
          " expires_at REAL NOT NULL)",
          f"CREATE INDEX IF NOT EXISTS {TABLE}_by_expiry ON {TABLE}(expires_at)")

T = TypeVar("T")


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class SessionStore:
    """`SessionStore.in_file(path, ...)` for one box; `SessionStore(connect, ...)` on a shared database,
    where `connect` opens a connection to it (called again when a database restart broke the last one)."""

    def __init__(self, connect: Callable[[], Db], max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._connect = connect
        self._lock = threading.Lock()
        self._db = connect()

    @classmethod
    def in_file(cls, path: Path, max_age_s: float) -> SessionStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(lambda: SqliteDb(path, synchronous="NORMAL"), max_age_s)
        db = store._db
        for statement in SCHEMA:
            db.execute(statement)
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sessions'").fetchone():
            # A file of gridwatch before 0.3 (table `sessions`, same columns): its screens stay logged in.
            db.execute(f"INSERT OR IGNORE INTO {TABLE} SELECT id_sha256, token_sha256, expires_at FROM sessions")
            db.execute("DROP TABLE sessions")
        return store

    def _run(self, work: Callable[[Db], T]) -> T:
        """Run `work` on the connection; one broken by a database restart is replaced and `work` tried once
        more (every step here is safe to repeat)."""
        with self._lock:
            try:
                return work(self._db)
            except Exception:
                if not getattr(self._db, "broken", False):
                    raise
                log.warning("sessions: the database connection broke; reconnecting")
                self._db = self._connect()
                return work(self._db)

    def open(self, token: str) -> str:
        """A new session for this token; returns its id (the cookie's value)."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()

        def insert(db: Db) -> None:
            db.execute(f"DELETE FROM {TABLE} WHERE expires_at <= ?", (now,))
            db.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?)",
                       (digest(session_id), digest(token), now + self.max_age_s))
            db.execute(f"DELETE FROM {TABLE} WHERE id_sha256 NOT IN (SELECT id_sha256 FROM {TABLE}"
                       " ORDER BY expires_at DESC LIMIT ?)", (MAX_SESSIONS,))

        self._run(insert)
        return session_id

    def token_digest(self, session_id: str) -> bytes | None:
        """The sha256 of the token behind a live session; None when unknown, revoked or expired."""
        if not session_id or len(session_id) > 128:
            return None
        row = self._run(lambda db: db.execute(f"SELECT token_sha256, expires_at FROM {TABLE} WHERE id_sha256 = ?",
                                              (digest(session_id),)).fetchone())
        if row is None or row[1] <= time.time():
            return None
        return bytes(row[0])

    def revoke(self, session_id: str) -> bool:
        return self._run(lambda db: db.execute(f"DELETE FROM {TABLE} WHERE id_sha256 = ?",
                                               (digest(session_id),)).rowcount > 0)

    def count(self) -> int:
        return self._run(lambda db: db.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE expires_at > ?",
                                               (time.time(),)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
