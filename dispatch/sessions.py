"""Page sessions: the cookie carries an opaque, random session id, never the bearer token.

A session stands for the token it was opened with, kept only as that token's sha256: the principal is
worked out afresh on every request, so a token removed from the registry or the environment ends its
sessions too. Sessions live in their own SQLite file (a dispatch restart keeps screens logged in), only
as the sha256 of their id (a copy of the file opens no session), expire after `max_age_s`, and are
deleted at logout.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from pathlib import Path

SESSION_FILE = "sessions.sqlite"
MAX_SESSIONS = 10_000  # the oldest go first past this: logins cannot fill the disk


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class SessionStore:
    def __init__(self, path: Path, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS sessions (id_sha256 BLOB PRIMARY KEY, token_sha256 BLOB NOT"
                           " NULL, expires_at REAL NOT NULL)")

    def open(self, token: str) -> str:
        """A new session for this token; returns its id (the cookie's value)."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            self._conn.execute("INSERT INTO sessions VALUES (?, ?, ?)",
                               (digest(session_id), digest(token), now + self.max_age_s))
            self._conn.execute("DELETE FROM sessions WHERE id_sha256 NOT IN (SELECT id_sha256 FROM sessions"
                               " ORDER BY expires_at DESC LIMIT ?)", (MAX_SESSIONS,))
        return session_id

    def token_digest(self, session_id: str) -> bytes | None:
        """The sha256 of the token behind a live session; None when unknown, revoked or expired."""
        if not session_id or len(session_id) > 128:
            return None
        with self._lock:
            row = self._conn.execute("SELECT token_sha256, expires_at FROM sessions WHERE id_sha256 = ?",
                                     (digest(session_id),)).fetchone()
        if row is None or row[1] <= time.time():
            return None
        return row[0]

    def revoke(self, session_id: str) -> bool:
        with self._lock:
            return self._conn.execute("DELETE FROM sessions WHERE id_sha256 = ?",
                                      (digest(session_id),)).rowcount > 0

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM sessions WHERE expires_at > ?",
                                      (time.time(),)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
