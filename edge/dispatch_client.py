"""Delivers the outbox: HTTP POST to the dispatch endpoint, MQTT `grid/alerts/{grid}` locally.

One thread per sink, so a broker outage never delays dispatch and the other way round.
Each sink takes items strictly in seq order and marks an item done only after it was
acknowledged (2xx) or accepted by the MQTT client, one item at a time: a crash can at
worst repeat the one item in flight, which the endpoint recognises as a duplicate.

HTTP outcomes: 2xx done; 400/413/422 permanent (kept as rejected, logged, next item);
401/403 a configuration problem (token): retried with backoff, logged once, the token is
read again before each retry so a fixed secret takes effect without a restart;
everything else (408, 409, 429, 5xx, timeouts, refused connections) retried with
exponential backoff and full jitter. Outages are logged on the transition and on recovery.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from edge.config import DispatchClientConfig
from edge.metrics import Timings
from edge.outbox import Outbox, OutboxItem
from ingest.config import secret
from ingest.topics import Topics

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], bool]
Outcome = Literal["ok", "rejected", "auth", "retry"]

PERMANENT_STATUSES = frozenset({400, 404, 405, 410, 413, 415, 422})
AUTH_STATUSES = frozenset({401, 403})
LATENCY_WINDOW = 1000


def classify(status: int) -> Outcome:
    """What a response status means for the item that was sent (pure, table-tested)."""
    if 200 <= status < 300:
        return "ok"
    if status in AUTH_STATUSES:
        return "auth"
    if status in PERMANENT_STATUSES:
        return "rejected"
    return "retry"  # 408, 409, 425, 429, 5xx, and anything unforeseen: never drop an alert on a guess


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, initial * 2^attempt)]."""
    return rng.uniform(0.0, min(max_s, initial_s * (2.0 ** min(attempt, 30))))


@dataclass
class SenderStats:
    sent: int = 0
    retries: int = 0
    rejected: int = 0
    published: int = 0
    publish_failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    outage_since: float | None = None  # wall clock; None while dispatch answers
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    def latency_summary(self) -> dict[str, float | None]:
        values = sorted(self.latencies_ms)
        if not values:
            return {"p50_ms": None, "p95_ms": None, "max_ms": None}
        return {
            "p50_ms": values[len(values) // 2],
            "p95_ms": values[min(len(values) - 1, int(len(values) * 0.95))],
            "max_ms": values[-1],
        }


class AlertSender:
    """Two delivery threads over one outbox; `wake()` after each checkpoint for immediate delivery."""

    def __init__(
        self,
        outbox: Outbox,
        config: DispatchClientConfig,
        publish: Publish | None = None,
        topics: Topics | None = None,
        *,
        batch: int = 100,
        poll_s: float = 5.0,
        prune_days: float | None = 7.0,
        rng: random.Random | None = None,
        timings: Timings | None = None,
    ) -> None:
        self.outbox = outbox
        self.timings = timings or Timings()
        self.config = config
        self.publish = publish
        self.topics = topics or Topics()
        self.batch = batch
        self.poll_s = poll_s  # safety net only: wake() is the normal path
        self.prune_days = prune_days
        self.stats = SenderStats()
        self._rng = rng or random.Random()
        self._stats_lock = threading.Lock()
        self._wake = {"http": threading.Event(), "mqtt": threading.Event()}
        self._stopping = threading.Event()  # interrupts backoff sleeps
        self._drain_deadline: float | None = None
        self._threads: list[threading.Thread] = []
        self._client: httpx.Client | None = None
        self._token: str | None = None
        self._failure_kind: str | None = None  # what the current outage was logged as

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> AlertSender:
        self._token = self._read_token()
        if not self._token:
            log.warning("no dispatch token in %s: alerts are posted without Authorization", self.config.token_env)
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.config.timeout_s),
            headers={"Content-Type": "application/json"},
            limits=httpx.Limits(max_keepalive_connections=1, max_connections=2),
        )
        self._stopping.clear()
        self._drain_deadline = None
        self.outbox.add_listener(self.wake)
        self._threads = [
            threading.Thread(target=self._run_http, name="alert-sender-http", daemon=True),
            threading.Thread(target=self._run_mqtt, name="alert-sender-mqtt", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def wake(self) -> None:
        """New items were committed: deliver now instead of at the next poll."""
        for event in self._wake.values():
            event.set()

    def stop(self, drain_timeout_s: float = 5.0) -> bool:
        """Deliver what is pending for up to `drain_timeout_s`, then stop. True when nothing
        was left pending for HTTP (what is left stays in the outbox for the next start)."""
        self._drain_deadline = time.monotonic() + max(0.0, drain_timeout_s)
        if drain_timeout_s <= 0:
            self._stopping.set()
        self.wake()
        join_deadline = self._drain_deadline + self.config.timeout_s + 1.0
        for thread in self._threads:
            thread.join(max(0.0, join_deadline - time.monotonic()))
            if thread.is_alive():
                # Past the drain window: cut backoff sleeps short and wait for the thread.
                self._stopping.set()
                thread.join(self.config.timeout_s + 1.0)
        self._stopping.set()
        self.outbox.remove_listener(self.wake)
        if self._client is not None:
            self._client.close()
        return not self.outbox.pending("http", 1)

    def snapshot(self) -> dict[str, object]:
        """Counters for health and metrics."""
        with self._stats_lock:
            stats = self.stats
            return {
                "sent": stats.sent,
                "retries": stats.retries,
                "rejected": stats.rejected,
                "published": stats.published,
                "publish_failures": stats.publish_failures,
                "last_error": stats.last_error,
                "outage_since": stats.outage_since,
                **stats.latency_summary(),
            }

    # -- the loops -------------------------------------------------------------------------

    def _should_exit(self, sink: str) -> bool:
        """Stop once asked to and either past the drain window or with nothing left."""
        if self._stopping.is_set():
            return True
        if self._drain_deadline is None:
            return False
        return time.monotonic() >= self._drain_deadline or not self.outbox.pending(sink, 1)  # type: ignore[arg-type]

    def _idle(self, sink: str) -> None:
        event = self._wake[sink]
        event.wait(self.poll_s if self._drain_deadline is None else 0.05)
        event.clear()

    def _sleep(self, seconds: float) -> None:
        """A backoff pause: cut short by stop, not by wake (a new item must not hammer a dead endpoint)."""
        if self._drain_deadline is not None:
            seconds = min(seconds, max(0.0, self._drain_deadline - time.monotonic()))
        self._stopping.wait(seconds)

    def _run_http(self) -> None:
        self._guarded(self._loop_http)

    def _run_mqtt(self) -> None:
        self._guarded(self._loop_mqtt)

    def _guarded(self, loop: Callable[[], None]) -> None:
        """A failing outbox write (locked, disk full) is logged and the loop starts over."""
        while True:
            try:
                loop()
                return
            except Exception:
                log.exception("alert delivery loop failed; resuming")
                self._stopping.wait(1.0)
                if self._stopping.is_set():
                    return

    def _loop_http(self) -> None:
        attempt = 0
        next_prune = time.monotonic()
        while not self._should_exit("http"):
            if self.prune_days is not None and time.monotonic() >= next_prune:
                next_prune = time.monotonic() + 3600
                self._safe(lambda: self.outbox.prune(self.prune_days or 0.0), "prune")
            self._wake["http"].clear()  # cleared before reading: a wake during the read is kept
            items = self._safe(lambda: self.outbox.pending("http", self.batch), "read") or []
            if not items:
                self._idle("http")
                continue
            for item in items:
                if self._stopping.is_set():
                    return
                outcome, detail = self._post(item)
                if outcome == "ok":
                    self.outbox.mark_done("http", [item.seq])
                    self.timings.delivered["http"].observe(max(0.0, time.time() - item.created_at))
                    self._recovered()
                    attempt = 0
                    with self._stats_lock:
                        self.stats.sent += 1
                elif outcome == "rejected":
                    self.outbox.mark_rejected(item.seq, detail)
                    self._recovered()
                    attempt = 0
                    with self._stats_lock:
                        self.stats.rejected += 1
                else:
                    self._failed(outcome, item, detail)
                    self._sleep(backoff_delay(attempt, self.config.retry_initial_s, self.config.retry_max_s, self._rng))
                    attempt += 1
                    if outcome == "auth":
                        self._token = self._read_token()
                    break  # re-read: the head item is retried first, order holds

    def _post(self, item: OutboxItem) -> tuple[Outcome, str]:
        assert self._client is not None
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        started = time.perf_counter()
        try:
            response = self._client.post(self.config.url, content=item.payload.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return "retry", f"{type(exc).__name__}: {exc}"[:300]
        elapsed_ms = (time.perf_counter() - started) * 1000
        outcome = classify(response.status_code)
        if outcome == "ok":
            with self._stats_lock:
                self.stats.latencies_ms.append(elapsed_ms)
            self.timings.dispatch_request.observe(elapsed_ms / 1000)
            return outcome, ""
        return outcome, f"HTTP {response.status_code}: {response.text[:300]}"

    def _failed(self, outcome: Outcome, item: OutboxItem, detail: str) -> None:
        kind = "auth" if outcome == "auth" else "unavailable"
        with self._stats_lock:
            self.stats.retries += 1
            self.stats.last_error = detail
            self.stats.last_error_at = time.time()
            if self.stats.outage_since is None:
                self.stats.outage_since = time.time()
        if kind != self._failure_kind:  # once per transition, not per retry
            if kind == "auth":
                log.error(
                    "dispatch refused the edge token (%s): check %s; alerts are kept and retried",
                    detail[:80], self.config.token_env,
                )
            else:
                log.warning("dispatch endpoint unavailable (%s); alerts are kept and retried", detail[:200])
            self._failure_kind = kind
        self._safe(lambda: self.outbox.note_attempt(item.seq, detail), "note attempt")

    def _recovered(self) -> None:
        if self._failure_kind is None:
            return
        with self._stats_lock:
            since = self.stats.outage_since
            self.stats.outage_since = None
        log.warning("dispatch endpoint reachable again after %.1f s", time.time() - (since or time.time()))
        self._failure_kind = None

    def _loop_mqtt(self) -> None:
        attempt = 0
        while not self._should_exit("mqtt"):
            self._wake["mqtt"].clear()
            items = self._safe(lambda: self.outbox.pending("mqtt", self.batch), "read") or []
            if not items:
                self._idle("mqtt")
                continue
            if self.publish is None:  # no broker: a late local publication is worth nothing
                self.outbox.mark_skipped(item.seq for item in items)
                continue
            for item in items:
                if self._stopping.is_set():
                    return
                if self._publish(item):
                    self.outbox.mark_done("mqtt", [item.seq])
                    self.timings.delivered["mqtt"].observe(max(0.0, time.time() - item.created_at))
                    attempt = 0
                else:
                    self._sleep(backoff_delay(attempt, self.config.retry_initial_s, min(5.0, self.config.retry_max_s),
                                              self._rng))
                    attempt += 1
                    break

    def _publish(self, item: OutboxItem) -> bool:
        assert self.publish is not None
        try:
            accepted = bool(self.publish(self.topics.alerts(item.grid), item.payload.encode()))
        except Exception:  # a broken publisher must not kill the delivery thread
            log.exception("publishing alert %s on MQTT failed", item.alert_id)
            accepted = False
        with self._stats_lock:
            if accepted:
                self.stats.published += 1
            else:
                self.stats.publish_failures += 1
        return accepted

    # -- helpers ---------------------------------------------------------------------------

    def _read_token(self) -> str | None:
        return secret(self.config.token_env) or None

    @staticmethod
    def _safe(action: Callable[[], object], what: str) -> object:
        """Outbox reads and upkeep: a locked or full disk is logged, the loop goes on."""
        try:
            return action()
        except Exception:
            log.exception("outbox %s failed", what)
            time.sleep(0.5)
            return None
