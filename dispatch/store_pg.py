"""The dispatch store on PostgreSQL: any number of `gridwatch dispatch` replicas on one database.

Writes take the database-wide advisory transaction lock (store_db.WRITE_LOCK_KEY), so they commit
in turn exactly as on SQLite, and send `NOTIFY gridwatch_events, '<seq>'` in the transaction
(PostgreSQL delivers it at the commit, to every listening replica). Each replica keeps one
LISTEN connection; a notice, and every (re)connect of that connection, wakes the local
listeners (the feed hub, the pusher), which then read the shared event log from their cursor.
Event seqs are the database's, so a screen's Last-Event-ID means the same on every replica.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from dispatch.store import AlertStore
from dispatch.store_db import Db, PgDb
from dispatch.store_schema import apply
from dispatch.store_tx import Tx

log = logging.getLogger(__name__)

CHANNEL = "gridwatch_events"
RECONNECT_S = 1.0


class PostgresStore(AlertStore):
    kind = "postgresql"

    def __init__(self, dsn: str, *, migrate: bool = True, listen: bool = True) -> None:
        self.dsn = dsn
        writer = PgDb(dsn)
        if migrate:
            apply(writer)
        super().__init__(writer, PgDb(dsn))
        self._closing = threading.Event()
        self._listen_thread: threading.Thread | None = None
        if listen:
            self._listen_thread = threading.Thread(target=self._listen_forever, name="store-listen", daemon=True)
            self._listen_thread.start()

    def connect(self, application_name: str = "gridwatch-dispatch") -> PgDb:
        """Another connection to the same database (the push ledger, the leader lock)."""
        return PgDb(self.dsn, application_name=application_name)

    # A replica outlives a database restart: a broken connection is replaced at its next use
    # (the request that met the break failed; the edge's outbox retries it).
    def _writer(self) -> Db:
        if self._conn.broken:  # type: ignore[attr-defined]
            log.warning("store: the write connection broke; reconnecting")
            self._conn = PgDb(self.dsn)
        return self._conn

    def _read_conn(self) -> Db:
        if self._reader.broken:  # type: ignore[attr-defined]
            self._reader = PgDb(self.dsn)
        return self._reader

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """A read is safe to repeat: one that meets a connection broken by a restart is tried once more."""
        import psycopg

        try:
            return super()._read(sql, params)
        except psycopg.OperationalError:
            if not self._reader.broken:  # type: ignore[attr-defined]
                raise
            log.warning("store: the read connection broke; reconnecting")
            return super()._read(sql, params)

    def _before_commit(self, tx: Tx) -> None:
        if tx.newest_seq:
            self._conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, str(tx.newest_seq)))

    def _listen_forever(self) -> None:
        told_down = False
        while not self._closing.is_set():
            try:
                conn = PgDb(self.dsn, application_name="gridwatch-dispatch-listen")
            except Exception as exc:
                if not told_down:
                    log.warning("store: cannot LISTEN for other replicas' changes (%s); retrying", exc)
                    told_down = True
                self._closing.wait(RECONNECT_S)
                continue
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                if told_down:
                    log.info("store: listening for other replicas' changes again")
                    told_down = False
                if (newest := self.last_seq()) > 0:
                    self._tell(newest)  # whatever was committed while we were not listening
                while not self._closing.is_set():
                    for notice in conn.raw.notifies(timeout=RECONNECT_S):
                        self._tell(int(notice.payload))
            except Exception as exc:
                if not self._closing.is_set() and not told_down:
                    log.warning("store: the LISTEN connection broke (%s); reconnecting", exc)
                    told_down = True
            finally:
                try:
                    conn.close()
                except Exception:  # already gone
                    pass
            self._closing.wait(RECONNECT_S)

    def close(self) -> None:
        self._closing.set()
        if self._listen_thread is not None:
            self._listen_thread.join(RECONNECT_S * 3)
        super().close()
