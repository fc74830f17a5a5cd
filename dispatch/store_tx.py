"""Writes of the dispatch store, all inside one `AlertStore.write()` transaction.

The SQL is what SQLite and PostgreSQL both run (dispatch/store_db.py): keys come back by
`RETURNING`, conflicts are `ON CONFLICT` clauses.
"""

from __future__ import annotations

from collections.abc import Iterable

from dispatch.sla import Timer
from dispatch.store_db import Db
from dispatch.store_rows import ALERT_COLUMNS, PutResult, StoredAlert, at, stored_alert, supersedes
from ingest.wire.alert import Alert
from ingest.wire.dispatch import OPEN_STATES, FeedEvent, Transition

_SETTABLE = frozenset({
    "queue", "dispatch_state", "assignee", "dispatched_at", "accepted_at", "on_site_at", "resolved_at", "rated_at",
    "score", "accept_due", "resolve_due", "escalation",
})


class Tx:
    """Handed out by `AlertStore.write()`; valid only inside that `with` block."""

    def __init__(self, conn: Db) -> None:
        self._conn = conn
        self.newest_seq = 0

    @property
    def db(self) -> Db:
        """The transaction's connection, for bulk work inside it (`gridwatch dispatch migrate --from-sqlite`)."""
        return self._conn

    def put_change(self, alert: Alert, now: float, queue: str) -> PutResult:
        """Store one edge change, idempotent on its content; `queue` is used for a new alert."""
        payload = alert.to_json()
        inserted = self._conn.execute(
            "INSERT INTO alert_changes(alert_id, change_key, state, severity, revision, received_at,"
            " applied, payload) VALUES (?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (change_key) DO NOTHING RETURNING id",
            (alert.id, alert.change_key(), alert.state, alert.severity, alert.revision, now, payload),
        ).fetchone()
        if inserted is None:
            return PutResult(stored=False, duplicate=True, applied=False, change_id=None)
        change_id = inserted[0]
        current = self._conn.execute("SELECT state, revision FROM alerts WHERE id = ?", (alert.id,)).fetchone()
        created = current is None
        if created:
            self._conn.execute(
                "INSERT INTO alerts(id, type, subject, building, queue, state, severity, revision,"
                " first_change_at, last_change_at, last_change_id, changes, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (alert.id, alert.type, alert.subject, alert.building, queue, alert.state, alert.severity,
                 alert.revision, now, now, change_id, payload),
            )
            applied = True
        else:
            applied = supersedes(current[0], current[1], alert)
            if applied:
                self._conn.execute(
                    "UPDATE alerts SET type = ?, subject = ?, building = ?, state = ?, severity = ?, revision = ?,"
                    " last_change_at = ?, last_change_id = ?, changes = changes + 1, payload = ? WHERE id = ?",
                    (alert.type, alert.subject, alert.building, alert.state, alert.severity, alert.revision, now,
                     change_id, payload, alert.id),
                )
            else:
                self._conn.execute("UPDATE alerts SET changes = changes + 1 WHERE id = ?", (alert.id,))
        if applied:
            self._conn.execute("UPDATE alert_changes SET applied = 1 WHERE id = ?", (change_id,))
        return PutResult(stored=True, duplicate=False, applied=applied, change_id=change_id, created=created)

    def row(self, alert_id: str) -> StoredAlert | None:
        row = self._conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return stored_alert(row) if row else None

    def update(self, alert_id: str, **fields: object) -> None:
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise ValueError(f"not a dispatch column: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._conn.execute(f"UPDATE alerts SET {assignments} WHERE id = ?", (*fields.values(), alert_id))

    def add_transition(self, transition: Transition) -> None:
        self._conn.execute("INSERT INTO transitions(alert_id, at, body) VALUES (?, ?, ?)",
                           (transition.alert_id, transition.at.timestamp(), transition.model_dump_json()))

    def add_event(self, kind: str, alert_id: str, now: float, *, transition: Transition | None = None,
                  notify: Iterable[str] = (), reason: str | None = None) -> int:
        """Append a feed event carrying the alert's view as it is now in this transaction."""
        stored = self.row(alert_id)
        if stored is None:
            raise KeyError(alert_id)
        seq = self._conn.execute(
            "INSERT INTO events(alert_id, queue, kind, at, body) VALUES (?, ?, ?, ?, '') RETURNING seq",
            (alert_id, stored.queue, kind, now),
        ).fetchone()[0]
        event = FeedEvent(seq=seq, kind=kind, at=at(now), alert=stored.view(with_snapshot=False), transition=transition,
                          notify=list(notify), reason=reason)
        self._conn.execute("UPDATE events SET body = ? WHERE seq = ?", (event.model_dump_json(), seq))
        self.newest_seq = seq
        return seq

    def set_timers(self, alert_id: str, timers: Iterable[Timer]) -> None:
        self._conn.executemany(
            "INSERT INTO timers(alert_id, kind, level, due_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (alert_id, kind, level) DO UPDATE SET due_at = excluded.due_at",
            [(alert_id, t.kind, t.level, t.due_at) for t in timers],
        )

    def pending_timers(self, alert_id: str) -> list[Timer]:
        rows = self._conn.execute("SELECT kind, level, due_at FROM timers WHERE alert_id = ?", (alert_id,)).fetchall()
        return [Timer(*row) for row in rows]

    def cancel_timers(self, alert_id: str, kind: str | None = None) -> None:
        if kind is None:
            self._conn.execute("DELETE FROM timers WHERE alert_id = ?", (alert_id,))
        else:
            self._conn.execute("DELETE FROM timers WHERE alert_id = ? AND kind = ?", (alert_id, kind))

    def take_due_timer(self, now: float) -> tuple[str, Timer] | None:
        """Remove and return the earliest timer due by `now`. Its escalation is written in the same
        transaction, and writers take turns (SQLite's write lock, PostgreSQL's advisory transaction
        lock), so of all replicas exactly one takes each timer; one that dies before its commit
        takes nothing."""
        row = self._conn.execute(
            "SELECT alert_id, kind, level, due_at FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT 1", (now,)
        ).fetchone()
        if row is None:
            return None
        self._conn.execute("DELETE FROM timers WHERE alert_id = ? AND kind = ? AND level = ?", tuple(row[:3]))
        return row[0], Timer(*row[1:])

    def open_load(self, workers: Iterable[str]) -> dict[str, int]:
        """Open alerts each worker holds (routing gives the next one to the least loaded)."""
        names = list(workers)
        if not names:
            return {}
        rows = self._conn.execute(
            f"SELECT assignee, COUNT(*) FROM alerts WHERE assignee IN ({', '.join('?' * len(names))})"
            f" AND dispatch_state IN ({', '.join('?' * len(OPEN_STATES))}) GROUP BY assignee",
            (*names, *sorted(OPEN_STATES)),
        ).fetchall()
        return dict(rows)
