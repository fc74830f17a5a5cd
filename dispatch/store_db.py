"""The two SQL connections the dispatch store runs on, behind one small interface.

The store and the push ledger write their SQL once, in SQLite's dialect with `?` placeholders,
restricted to what PostgreSQL also understands (`ON CONFLICT`, `RETURNING`); a `PgDb` only
rewrites the placeholders. Each connection is used by one thread at a time (the store's locks).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

BUSY_TIMEOUT_MS = 10_000


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    dialect: str  # "sqlite" | "postgresql"

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...
    def begin(self) -> None: ...  # a write transaction that excludes every other writer
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class SqliteDb:
    dialect = "sqlite"

    def __init__(self, path: Path, *, read_only: bool = False, synchronous: str = "FULL") -> None:
        target, uri = (f"file:{path}?mode=ro", True) if read_only else (str(path), False)
        self._conn = sqlite3.connect(target, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                                     isolation_level=None)
        if not read_only:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._conn.executemany(sql, rows)

    def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()


# Every writer of one gridwatch database takes this transaction lock first (pg_advisory_xact_lock):
# writes commit one at a time, as on SQLite, so event seqs become visible in order (a screen that
# resumes after seq N on any replica can never skip an N-1 committed later) and the dispatch loop's
# read-then-write steps (routing by load, taking a timer) need no further locking.
WRITE_LOCK_KEY = 0x67726964  # "grid"


@lru_cache(maxsize=512)
def to_pg(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s` (the store's SQL has no other `?` or `%`)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgDb:
    dialect = "postgresql"

    def __init__(self, dsn: str, *, application_name: str = "gridwatch-dispatch") -> None:
        import psycopg

        self.dsn = dsn
        self._conn = psycopg.connect(dsn, autocommit=True, application_name=application_name)

    @property
    def raw(self) -> Any:
        """The psycopg connection (LISTEN, notifies)."""
        return self._conn

    @property
    def broken(self) -> bool:
        return bool(self._conn.broken or self._conn.closed)

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self._conn.execute(to_pg(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            with self._conn.cursor() as cursor:
                cursor.executemany(to_pg(sql), rows)

    def begin(self) -> None:
        self._conn.execute("BEGIN")
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if not self.broken:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()
