"""The app factory: one place wires the store, auth and the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dispatch.api import alerts, health
from dispatch.auth import Authenticator
from dispatch.config import DispatchConfig
from dispatch.store import AlertStore
from ingest.registry import Registry

STORE_FILE = "dispatch.sqlite"


def create_app(config: DispatchConfig, registry: Registry) -> FastAPI:
    """Build the dispatch app; raises dispatch.auth.AuthConfigError when no edge token is
    configured and auth.allow_no_auth is not set."""
    auth = Authenticator(config.auth, registry)  # first: refuse before touching the disk
    store = AlertStore(config.state_dir / STORE_FILE)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="gridwatch dispatch", version="0.1.0", lifespan=lifespan)
    app.state.config = config
    app.state.registry = registry
    app.state.auth = auth
    app.state.store = store
    app.state.counters = {"received": 0, "stored": 0, "duplicates": 0, "invalid": 0}
    app.include_router(health.router)
    app.include_router(alerts.router)
    return app
