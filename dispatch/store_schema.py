"""One schema for both stores, as numbered migrations; `apply()` brings a database up to date.

Each migration is written once in SQLite's DDL; for PostgreSQL the types are widened
(`INTEGER` to `BIGINT`, `REAL` to `DOUBLE PRECISION`, `BLOB` to `BYTEA`, an autoincrement key to an identity).
`schema_migrations` records what was applied, so every replica and `gridwatch dispatch migrate`
agree on the version; a database newer than this program is refused rather than written.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from dispatch import sessions
from dispatch.store_db import Db
from dispatch.store_rows import DISPATCH_COLUMNS

log = logging.getLogger(__name__)

SERIAL = "{serial}"  # an integer key the database assigns in order


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_DISPATCH_COLUMNS_SQL = ",\n".join(f"        {name} {sql_type}" for name, sql_type in DISPATCH_COLUMNS)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "alert store: changes, alerts and their dispatch, transitions, events, timers", (
        f"""CREATE TABLE IF NOT EXISTS alert_changes (
            id {SERIAL},
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
        f"""CREATE TABLE IF NOT EXISTS alerts (
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
            payload TEXT NOT NULL,
{_DISPATCH_COLUMNS_SQL}
        )""",
        "CREATE INDEX IF NOT EXISTS alerts_by_queue ON alerts(queue, last_change_id)",
        "CREATE INDEX IF NOT EXISTS alerts_by_recency ON alerts(last_change_id)",
        f"""CREATE TABLE IF NOT EXISTS transitions (
            id {SERIAL},
            alert_id TEXT NOT NULL,
            at REAL NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS transitions_by_alert ON transitions(alert_id, id)",
        f"""CREATE TABLE IF NOT EXISTS events (
            seq {SERIAL},
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
    )),
    # The pusher's ledger (dispatch/push/ledger.py) beside the alerts, so that whichever replica
    # leads the pushes continues where the last leader stopped. SQLite keeps it in push.sqlite.
    Migration(2, "push ledger in the database", (
        "CREATE TABLE IF NOT EXISTS push_cursor (id INTEGER PRIMARY KEY CHECK (id = 0), seq INTEGER NOT NULL)",
        """CREATE TABLE IF NOT EXISTS push_deliveries (
            key TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            alert_id TEXT NOT NULL,
            recipient TEXT NOT NULL,
            channel TEXT NOT NULL,
            event_at REAL NOT NULL,
            message TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            done_at REAL
        )""",
        "CREATE INDEX IF NOT EXISTS push_deliveries_pending ON push_deliveries(seq) WHERE state = 'pending'",
    )),
    # Feed events that could not be read back (a store written before evidence was bounded, a bug, a
    # damaged row): skipped by every reader from then on, kept here for an operator to look at.
    Migration(3, "quarantined feed events", (
        """CREATE TABLE IF NOT EXISTS quarantined_events (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            error TEXT NOT NULL
        )""",
    )),
    # The page's sessions in the shared database, so that every replica knows a screen's cookie and a
    # logout on one ends it on all (dispatch/sessions.py). SQLite keeps them in sessions.sqlite.
    Migration(4, "page sessions in the database", sessions.SCHEMA),
)
LATEST = MIGRATIONS[-1].version

_TRACKING = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL," \
            " applied_at REAL NOT NULL)"


class SchemaError(RuntimeError):
    pass


def for_dialect(statement: str, dialect: str) -> str:
    if dialect == "sqlite":
        return statement.replace(SERIAL, "INTEGER PRIMARY KEY AUTOINCREMENT")
    statement = statement.replace(SERIAL, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    statement = re.sub(r"\bINTEGER\b", "BIGINT", statement)
    statement = re.sub(r"\bBLOB\b", "BYTEA", statement)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)


def current_version(db: Db) -> int:
    db.execute(for_dialect(_TRACKING, db.dialect))
    return db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]


def apply(db: Db) -> list[int]:
    """Apply what is missing, each migration in its own transaction under the writers' lock (two
    replicas starting together apply each once). Returns the versions applied now."""
    applied: list[int] = []
    for migration in MIGRATIONS:
        db.begin()
        try:
            have = current_version(db)
            if have > LATEST:
                raise SchemaError(f"the database is at schema version {have}, newer than this gridwatch knows "
                                  f"({LATEST}); upgrade gridwatch before running it on this database")
            if migration.version <= have:
                db.commit()
                continue
            for statement in migration.statements:
                db.execute(for_dialect(statement, db.dialect))
            if migration.version == 1 and db.dialect == "sqlite":
                _add_dispatch_columns(db)
            db.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                       (migration.version, migration.name, time.time()))
            db.commit()
        except BaseException:
            db.rollback()
            raise
        applied.append(migration.version)
        log.info("store schema: applied migration %d (%s)", migration.version, migration.name)
    return applied


def _add_dispatch_columns(db: Db) -> None:
    """A SQLite store written before the dispatch loop existed (and before versions) gains its columns."""
    have = {row[1] for row in db.execute("PRAGMA table_info(alerts)").fetchall()}
    for name, sql_type in DISPATCH_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE alerts ADD COLUMN {name} {sql_type}")
