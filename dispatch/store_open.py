"""Open the store a dispatch config asks for: SQLite in state_dir (the default) or PostgreSQL."""

from __future__ import annotations

from dispatch.config import DispatchConfig
from dispatch.store import AlertStore, SqliteStore

STORE_FILE = "dispatch.sqlite"


def open_store(config: DispatchConfig, *, listen: bool = True) -> AlertStore:
    """The schema's migrations are applied here, at every start (each once, under the writers' lock)."""
    if config.store.kind == "postgresql":
        from dispatch.store_pg import PostgresStore

        return PostgresStore(config.store.dsn(), listen=listen)
    return SqliteStore(config.state_dir / STORE_FILE)
