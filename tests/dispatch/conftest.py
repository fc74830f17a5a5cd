"""The store tests run on both stores: the embedded SQLite and a real PostgreSQL (tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dispatch.store import AlertStore, SqliteStore


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], AlertStore]]:
    """Opens the test's store (again, for a restart): the same file, or the same database."""
    if request.param == "postgresql":
        from dispatch.store_pg import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        opened: list[AlertStore] = []

        def opener() -> AlertStore:
            opened.append(PostgresStore(dsn))
            return opened[-1]

        yield opener
        for store in opened:  # its LISTEN thread and connections; closing twice is harmless
            try:
                store.close()
            except Exception:
                pass
    else:
        yield lambda: SqliteStore(tmp_path / "d.sqlite")
