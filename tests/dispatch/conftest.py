"""The store tests run on both stores: the embedded SQLite and a real PostgreSQL (tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dispatch.server import ServerHandle
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


@pytest.fixture
def start_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ServerHandle]]:
    """Starts a real dispatch over HTTP on a free port with the test tokens (test_api's), on one state_dir
    (a second start is a restart); keyword arguments are config sections: `http={...}`, `auth={...}`."""
    from dispatch.config import DispatchConfig
    from dispatch.server import start_in_thread
    from tests.dispatch.test_api import EDGE, OPERATOR, REGISTRY

    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR)
    handles: list[ServerHandle] = []

    def start(**fields: object) -> ServerHandle:
        config = DispatchConfig.model_validate({"listen": "127.0.0.1:0", "state_dir": tmp_path / "dispatch", **fields})
        handles.append(start_in_thread(config, REGISTRY))
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop()
