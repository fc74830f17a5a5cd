"""The app factory: one place wires the store, the dispatch loop, its timers, the feed, the
pushes to phones, auth and the routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from dispatch.api import alerts, feed, health, page, session, stats, status
from dispatch.auth import Authenticator
from dispatch.body_limit import BodyLimit
from dispatch.config import DispatchConfig
from dispatch.feed import FeedHub
from dispatch.leader import PushLeadership
from dispatch.metrics import DispatchCollector, DispatchTimings, RequestTimer
from dispatch.push.ledger import Ledger
from dispatch.push.pusher import Pusher
from dispatch.scheduler import SlaScheduler
from dispatch.service import DispatchService
from dispatch.sessions import SESSION_FILE, SessionStore
from dispatch.store_open import STORE_FILE, open_store
from dispatch.store_pg import PostgresStore
from ingest.registry import Registry

log = logging.getLogger(__name__)

__all__ = ["STORE_FILE", "create_app"]


def create_app(config: DispatchConfig, registry: Registry) -> FastAPI:
    """Build the dispatch app; raises dispatch.auth.AuthConfigError when no edge token is
    configured and auth.allow_no_auth is not set."""
    auth = Authenticator(config.auth, registry)  # first: refuse before touching the disk
    store = open_store(config)
    # Beside the store: on PostgreSQL every replica shares them (any replica serves any screen).
    if isinstance(store, PostgresStore):
        sessions = SessionStore(lambda: store.connect("gridwatch-dispatch-sessions"), session.COOKIE_MAX_AGE_S)
    else:
        sessions = SessionStore.in_file(config.state_dir / SESSION_FILE, session.COOKIE_MAX_AGE_S)
    service = DispatchService(store, registry, config.sla, config.timezone)
    # Every replica fires SLA timers: each is taken by deleting its row in the transaction that
    # records the escalation, so exactly one replica fires it (store_tx.take_due_timer).
    scheduler = SlaScheduler(service)
    hub = FeedHub(store)
    metrics = CollectorRegistry()
    timings = DispatchTimings(metrics)
    pusher, leadership = None, None

    def make_pusher(ledger: Ledger | None = None) -> Pusher:
        return Pusher(store, registry, config.push, config.mqtt, config.state_dir,
                      config.mqtt.topic_prefix if config.mqtt else "grid", on_delivered=timings.pushed,
                      ledger=ledger)

    if not config.push.enabled:
        log.info("push disabled")
    elif isinstance(store, PostgresStore):  # replicas: the holder of the push lock sends (dispatch/leader.py)
        leadership = PushLeadership(store, make_pusher, on_change=lambda p: setattr(app.state, "pusher", p))
    else:
        pusher = make_pusher()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        scheduler.start()
        if pusher is not None:
            pusher.start()
        if leadership is not None:
            leadership.start()
        try:
            yield
        finally:
            if leadership is not None:
                leadership.stop()
            if pusher is not None:
                pusher.stop()
            scheduler.stop()
            await hub.stop()
            store.close()
            sessions.close()

    app = FastAPI(title="gridwatch dispatch", version="0.2.0", lifespan=lifespan)
    app.state.config = config
    app.state.registry = registry
    app.state.auth = auth
    app.state.store = store
    app.state.sessions = sessions
    app.state.streams = {}  # caller key -> open feed streams (http.max_streams_per_caller)
    app.state.service = service
    app.state.scheduler = scheduler
    app.state.feed = hub
    app.state.pusher = pusher  # on PostgreSQL: set while this replica leads the pushes
    app.state.push_leadership = leadership
    app.state.counters = {"received": 0, "stored": 0, "duplicates": 0, "invalid": 0}
    app.state.metrics = metrics
    metrics.register(DispatchCollector(app))
    app.add_middleware(RequestTimer, timings=timings)
    for module in (health, status, alerts, session, stats, feed, page):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, default_bytes=config.http.max_body_bytes, body_timeout_s=config.http.body_timeout_s,
                       by_path={alerts.router.prefix: config.http.max_alert_body_bytes})
    return app
