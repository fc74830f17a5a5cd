"""Prometheus metrics of the dispatch endpoint, and the JSON status they are read from.

`status(app)` gathers the endpoint's counters (alert changes received, the store, the feed, SLA timers,
pushes); `/status` serves it as JSON and the collector turns it into Prometheus series at scrape time.
Request latency is a histogram observed by a small ASGI middleware at the response's start (an SSE
stream counts until its headers go out, not for its whole life), labelled by route template, never by
raw path, so the series stay bounded.

Each replica counts its own work: sum the counters over instances; the store's gauges are the same on
every replica of one database (take max).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PUSH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
UNMATCHED = "_unmatched"


class DispatchTimings:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.request = Histogram("gridwatch_http_request_seconds",
                                 "Dispatch HTTP requests, to the start of the response, by route template",
                                 ("method", "route", "code"), buckets=REQUEST_BUCKETS, registry=registry)
        self.push = Histogram("gridwatch_push_delivery_seconds",
                              "From the feed event to the push acknowledged, by channel kind (mqtt, apprise)",
                              ("channel",), buckets=PUSH_BUCKETS, registry=registry)
        self._pushed = {kind: self.push.labels(kind) for kind in ("mqtt", "apprise")}  # exported before the first

    def pushed(self, kind: str, seconds: float) -> None:
        (self._pushed.get(kind) or self.push.labels(kind)).observe(max(0.0, seconds))


class RequestTimer:
    """Pure ASGI middleware (no body buffering, streams untouched)."""

    def __init__(self, app: ASGIApp, timings: DispatchTimings) -> None:
        self.app = app
        self.timings = timings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")  # set by the router on a match (FastAPI's APIRoute)
                template = getattr(route, "path", None) or UNMATCHED
                self.timings.request.labels(scope["method"], template, str(message["status"])).observe(
                    time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed_send)


def status(app: Any) -> dict[str, Any]:
    """What this replica knows of itself, as JSON (/status) and as the metrics' source."""
    state = app.state
    try:
        store = state.store.counts()
    except Exception:  # a scrape must answer even while the store is away: /healthz says that
        log.debug("store counts unavailable", exc_info=True)
        store = None
    pusher = state.pusher
    return {
        "alert_changes": dict(state.counters),
        "store": store,
        "feed": {"subscribers": state.feed.subscribers, "last_event_id": state.feed.last_seq},
        "sla_escalations": state.scheduler.fired,
        "push": pusher.counters() if pusher is not None else None,
    }


class DispatchCollector(Collector):
    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        s = status(self.app)
        received = CounterMetricFamily("gridwatch_dispatch_alert_changes",
                                       "Alert changes POSTed by edges, by outcome", labels=["outcome"])
        changes = s["alert_changes"]
        for outcome in ("stored", "duplicates", "invalid"):
            received.add_metric([outcome], changes[outcome])
        yield received
        yield CounterMetricFamily("gridwatch_dispatch_alert_posts", "Alert change POSTs received",
                                  value=changes["received"])
        store = s["store"]
        yield GaugeMetricFamily("gridwatch_dispatch_store_up", "1 when the store answered this scrape",
                                value=int(store is not None))
        if store is not None:
            yield GaugeMetricFamily("gridwatch_dispatch_alerts", "Alerts (episodes) in the store",
                                    value=store["alerts"])
            yield GaugeMetricFamily("gridwatch_dispatch_sla_timers", "SLA deadlines not yet met or fired",
                                    value=store["timers"])
        yield GaugeMetricFamily("gridwatch_feed_subscribers", "Open SSE feed streams on this replica",
                                value=s["feed"]["subscribers"])
        yield GaugeMetricFamily("gridwatch_feed_last_event_id", "The newest feed event this replica has read",
                                value=s["feed"]["last_event_id"])
        yield CounterMetricFamily("gridwatch_sla_escalations", "SLA deadlines fired by this replica",
                                  value=s["sla_escalations"])
        push = s["push"]
        if push is not None:
            yield from _push(push)


def _push(push: dict[str, Any]) -> Iterator[Metric]:
    outcomes = CounterMetricFamily("gridwatch_push_deliveries", "Pushes to workers' phones and channels, by outcome",
                                   labels=["outcome"])
    for outcome in ("delivered", "expired", "dropped", "unknown_recipients", "no_channel"):
        outcomes.add_metric([outcome], push[outcome])
    yield outcomes
    yield CounterMetricFamily("gridwatch_push_failed_attempts", "Push attempts that failed (retried with backoff)",
                              value=push["failed_attempts"])
    yield GaugeMetricFamily("gridwatch_push_pending", "Pushes waiting to be sent or retried", value=push["pending"])
    yield GaugeMetricFamily("gridwatch_push_mqtt_connected", "1 while the pusher is connected to the broker",
                            value=push["mqtt_connected"])


def dispatch_registry(app: Any) -> tuple[CollectorRegistry, DispatchTimings]:
    """A registry of its own per app (tests run several in one process)."""
    registry = CollectorRegistry()
    timings = DispatchTimings(registry)
    registry.register(DispatchCollector(app))
    return registry, timings
