"""`gridwatch dispatch migrate`: bring the configured store to the current schema, and optionally
import an existing SQLite store (and its push ledger) into an empty PostgreSQL one.

The import keeps every id and seq (a screen's Last-Event-ID and the pusher's cursor stay valid),
runs in one transaction under the writers' lock, and refuses a database that already has alerts.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from dispatch.push.ledger import Ledger
from dispatch.sessions import TABLE as SESSION_TABLE
from dispatch.sessions import SessionStore
from dispatch.store import AlertStore, SqliteStore
from dispatch.store_db import Db, SqliteDb
from dispatch.store_schema import LATEST

log = logging.getLogger(__name__)

# (SQLite table, PostgreSQL table, identity column or None)
STORE_TABLES = (("alert_changes", "alert_changes", "id"), ("alerts", "alerts", None),
                ("transitions", "transitions", "id"), ("events", "events", "seq"), ("timers", "timers", None),
                ("quarantined_events", "quarantined_events", None))
LEDGER_TABLES = (("cursor", "push_cursor", None), ("deliveries", "push_deliveries", None))
SESSION_TABLES = ((SESSION_TABLE, SESSION_TABLE, None),)  # the screens stay logged in through the move
BATCH = 1000


class ImportRefused(RuntimeError):
    pass


def import_sqlite(source: Path, target: AlertStore, ledger: Path | None = None,
                  sessions: Path | None = None) -> dict[str, int]:
    """Copy a SQLite store (migrated to the current schema first) into `target`; rows per table."""
    if target.kind != "postgresql":
        raise ImportRefused("the import goes into a PostgreSQL store: set store.kind: postgresql in the config")
    if not source.is_file():
        raise ImportRefused(f"{source}: no such SQLite store")
    SqliteStore(source).close()  # an old store gains its columns and version first
    copied: dict[str, int] = {}
    sources = [(SqliteDb(source, read_only=True), STORE_TABLES)]
    if ledger is not None and ledger.is_file():
        Ledger(ledger).close()
        sources.append((SqliteDb(ledger, read_only=True), LEDGER_TABLES))
    if sessions is not None and sessions.is_file():
        SessionStore.in_file(sessions, 0).close()  # an older file gains its table name first
        sources.append((SqliteDb(sessions, read_only=True), SESSION_TABLES))
    with target.write() as tx:
        db = tx.db  # one transaction, the writers' lock held
        if db.execute("SELECT COUNT(*) FROM alert_changes").fetchone()[0]:
            raise ImportRefused("the PostgreSQL store already holds alerts; import into an empty database")
        for src, tables in sources:
            for name, into, identity in tables:
                copied[into] = _copy(src, db, name, into)
                if identity is not None:
                    db.execute(f"SELECT setval(pg_get_serial_sequence('{into}', '{identity}'),"
                               f" COALESCE(MAX({identity}), 1), MAX({identity}) IS NOT NULL) FROM {into}")
            src.close()
    return copied


def _copy(src: Db, dst: Db, name: str, into: str) -> int:
    columns = [row[1] for row in src.execute(f"PRAGMA table_info({name})").fetchall()]
    cursor = src.execute(f"SELECT {', '.join(columns)} FROM {name}")
    insert = f"INSERT INTO {into}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    total = 0
    while rows := cursor.fetchmany(BATCH):  # type: ignore[attr-defined]
        dst.executemany(insert, rows)
        total += len(rows)
    return total


def main(args: argparse.Namespace) -> int:
    from dispatch.config import StoreConfigError, load_dispatch_config
    from dispatch.push.pusher import LEDGER_FILE
    from dispatch.sessions import SESSION_FILE
    from dispatch.store_open import open_store
    from dispatch.store_schema import SchemaError

    config = load_dispatch_config(args.migrate_config or args.config)
    try:
        store = open_store(config, listen=False)  # applies what is missing
    except (StoreConfigError, SchemaError) as exc:
        print(f"gridwatch dispatch migrate: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"{store.kind} store at schema version {store.schema_version()} (this gridwatch: {LATEST})")
        if args.from_sqlite:
            source = Path(args.from_sqlite)
            ledger = Path(args.ledger) if args.ledger else source.with_name(LEDGER_FILE)
            try:
                copied = import_sqlite(source, store, ledger, source.with_name(SESSION_FILE))
            except ImportRefused as exc:
                print(f"gridwatch dispatch migrate: {exc}", file=sys.stderr)
                return 1
            print(f"imported {source}: " + ", ".join(f"{n} {t}" for t, n in copied.items()))
    finally:
        store.close()
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", dest="migrate_config", help="dispatch.yaml (its store: section)")
    parser.add_argument("--from-sqlite", help="import this SQLite store (dispatch.sqlite) into the empty "
                        "PostgreSQL store of the config")
    parser.add_argument("--ledger", help="its push ledger (default: push.sqlite beside it, when present)")
    parser.set_defaults(func=main)

