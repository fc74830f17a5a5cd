"""The dispatch store: every edge change, each alert's current view and place in the loop,
the audit trail, the durable SLA timers and the event log that feeds screens and phones.

One interface (`AlertStore`), two databases: `SqliteStore` (embedded, WAL, synchronous=FULL; the
default) and `PostgresStore` (dispatch/store_pg.py; several replicas on one database). Every write
goes through one `write()` transaction, so an edge change, the dispatch it causes, its timers and
its feed event are committed together or not at all, and the endpoint's 2xx is a promise.
Listeners are told the newest event seq after each commit (the feed hub and the pusher wake on
it); on PostgreSQL also after the commits of other replicas.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from dispatch.sla import Timer
from dispatch.store_db import Db, SqliteDb
from dispatch.store_rows import (
    ALERT_COLUMNS,
    PutResult,
    StoredAlert,
    StoredChange,
    stored_alert,
    supersedes,
)
from dispatch.store_schema import apply, current_version
from dispatch.store_tx import Tx
from ingest.decode import condense
from ingest.wire.alert import STORED, Alert
from ingest.wire.dispatch import FeedEvent, Transition

log = logging.getLogger(__name__)

__all__ = ["AlertStore", "SqliteStore", "PutResult", "StoredAlert", "StoredChange", "Tx", "supersedes"]


class AlertStore:
    """What every store does, on a writer and a reader connection (`Db`); subclasses open them.

    One writer shared by the request threads behind a lock (writes serialise anyway); reads get
    their own connection so they never wait behind a commit's fsync."""

    kind = "abstract"

    def __init__(self, writer: Db, reader: Db) -> None:
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._listeners: list[Callable[[int], None]] = []
        self.quarantined = 0  # feed events quarantined by this process
        self._conn = writer
        self._reader = reader

    def _writer(self) -> Db:
        """The write connection (the PostgreSQL store replaces a broken one here)."""
        return self._conn

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._read_lock:
            return list(self._read_conn().execute(sql, params).fetchall())

    def _read_conn(self) -> Db:
        return self._reader

    def _before_commit(self, tx: Tx) -> None:
        """A hook inside the transaction, just before COMMIT (PostgreSQL: NOTIFY the other replicas)."""

    def schema_version(self) -> int:
        with self._lock:
            return current_version(self._writer())

    # -- writing --------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One durable transaction; listeners hear of its events after the commit."""
        with self._lock:
            db = self._writer()
            tx = Tx(db)
            db.begin()
            try:
                yield tx
                self._before_commit(tx)
            except BaseException:
                db.rollback()
                raise
            db.commit()
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
        return [stored_alert(row) for row in self._read(sql, (*params, limit))]

    def get(self, alert_id: str) -> StoredAlert | None:
        rows = self._read(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))
        return stored_alert(rows[0]) if rows else None

    def history(self, alert_id: str) -> list[StoredChange]:
        """Every edge change received for the alert, in the order received."""
        rows = self._read("SELECT id, received_at, applied, payload FROM alert_changes WHERE alert_id = ? ORDER BY id",
                          (alert_id,))
        return [StoredChange(row[0], row[1], bool(row[2]), Alert.model_validate_json(row[3], context=STORED))
                for row in rows]

    def transitions(self, alert_id: str) -> list[Transition]:
        """The loop's steps for the alert, oldest first: the audit trail."""
        rows = self._read("SELECT body FROM transitions WHERE alert_id = ? ORDER BY id", (alert_id,))
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
            events, bad = [], []
            for row_seq, body in self._read(sql, params):
                try:
                    events.append(FeedEvent.model_validate_json(body, context=STORED))
                except ValidationError as exc:
                    bad.append((row_seq, condense(exc, root="event")))
            if not bad:
                return events
            self._quarantine(bad)  # then read the page again: it is full again without them

    def _quarantine(self, bad: list[tuple[int, str]]) -> None:
        with self.write() as tx:
            tx.db.executemany("INSERT INTO quarantined_events(seq, at, error) VALUES (?, ?, ?)"
                              " ON CONFLICT (seq) DO NOTHING", [(seq, time.time(), error) for seq, error in bad])
        for seq, error in bad:
            self.quarantined += 1
            log.error("feed event %d cannot be read back (%s): quarantined, every reader skips it", seq, error)

    def quarantined_events(self) -> list[tuple[int, str]]:
        """(seq, why) of the events skipped because they could not be read back."""
        return [(row[0], row[1]) for row in self._read("SELECT seq, error FROM quarantined_events ORDER BY seq")]

    def last_seq(self) -> int:
        return self._read("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0]

    def next_due(self) -> float | None:
        """When the next SLA timer falls due (epoch s), None when none is pending."""
        return self._read("SELECT MIN(due_at) FROM timers")[0][0]

    def timers_of(self, alert_id: str) -> list[Timer]:
        rows = self._read("SELECT kind, level, due_at FROM timers WHERE alert_id = ? ORDER BY due_at", (alert_id,))
        return [Timer(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        changes = self._read("SELECT COUNT(*) FROM alert_changes")[0][0]
        alerts = self._read("SELECT COUNT(*) FROM alerts")[0][0]
        timers = self._read("SELECT COUNT(*) FROM timers")[0][0]
        return {"changes": changes, "alerts": alerts, "timers": timers, "events": self.last_seq()}

    def since(self, epoch_s: float, queues: Collection[str] | None = None) -> list[StoredAlert]:
        """Alerts received or moved in the loop since `epoch_s` (today's figures)."""
        sql = (f"SELECT {ALERT_COLUMNS} FROM alerts WHERE (first_change_at >= ? OR dispatched_at >= ?"
               " OR resolved_at >= ? OR dispatch_state IN ('new', 'dispatched', 'accepted', 'on_site'))")
        if queues is not None and not queues:
            return []
        sql += _queue_filter(queues)
        params: list[object] = [epoch_s] * 3 + sorted(queues or ())
        return [stored_alert(row) for row in self._read(sql, params)]

    def ping(self) -> bool:
        try:
            return tuple(self._read("SELECT 1")[0]) == (1,)
        except Exception:  # the database is gone: unhealthy, not a 500
            log.warning("store: ping failed", exc_info=True)
            return False

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._conn.close()


class SqliteStore(AlertStore):
    """The embedded store: one SQLite file in WAL mode, synchronous=FULL; one process writes it."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = SqliteDb(self.path)
        apply(writer)
        super().__init__(writer, SqliteDb(self.path, read_only=True))


def _queue_filter(queues: Collection[str] | None) -> str:
    """` AND queue IN (?, ...)` for a caller limited to some queues (their values go last, sorted)."""
    return "" if queues is None else f" AND queue IN ({', '.join('?' * len(queues))})"
