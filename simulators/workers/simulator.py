"""Simulated grid workers' phones: each listens on `{prefix}/workers/{id}/notify` and walks the alerts
dispatched to it through accept, arrive and resolve on the dispatch API, with human delays.

One MQTT connection per worker, as each phone has its own: a stable client id and a persistent
session, so an alert dispatched while the phone is off reaches it when it comes back. The MQTT
callback only decides and schedules; a timer thread keeps the due steps in a heap and hands them
to a small pool for the HTTP calls, so a slow dispatch endpoint never stalls the network loop.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from ingest.config import MqttConfig
from ingest.mqtt_client import InboundMessage, MqttConnection
from ingest.topics import Topics
from ingest.wire.dispatch import LifecycleBody, NotifyMessage
from simulators.workers.behaviour import plan

log = logging.getLogger(__name__)

PAST = {"accept": "accepted", "arrive": "arrived", "resolve": "resolved"}
# Where a worker picks an alert up, by the state the notify message shows (a redelivered or
# reassigned alert may already be further along).
FIRST_STEP = {"dispatched": 0, "accepted": 1, "on_site": 2}
ANSWERED = frozenset({"dispatched", "reassigned"})
COUNTERS = ("notified", "accepted", "arrived", "resolved", "ignored", "errors",
            "conflicts", "escalations", "invalid", "retries")


@dataclass(slots=True)
class Job:
    """One worker's remaining steps on one alert."""

    worker: str
    alert_id: str
    steps: list[tuple[str, float, str]]  # (action, delay in real-world seconds, note)
    index: int = 0
    attempts: int = 0  # failed tries of the current step
    done: bool = False


def base_url(dispatch_url: str) -> str:
    """The dispatch base URL; the alerts endpoint's URL (what the edge is given) is taken too."""
    url = dispatch_url.rstrip("/")
    suffix = "/api/v1/alerts"
    return url[: -len(suffix)] if url.endswith(suffix) else url


class WorkerSimulator:
    """The phones of the workers in `tokens` (worker id -> API token). Non-blocking: start(), stop()."""

    def __init__(self, mqtt: MqttConfig, dispatch_url: str, tokens: dict[str, str], speed: float = 1.0,
                 ignore: float = 0.1, seed: int = 0, topic_prefix: str = "grid", *,
                 http_timeout_s: float = 10.0, max_attempts: int = 8, max_backoff_s: float = 30.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        if not 0.0 <= ignore <= 1.0:
            raise ValueError(f"ignore must be between 0 and 1, not {ignore}")
        if not tokens:
            raise ValueError("no workers to simulate: the tokens map is empty")
        self.mqtt = mqtt
        self.base_url = base_url(dispatch_url)
        self.tokens = dict(tokens)
        self.speed = speed
        self.ignore = ignore
        self.seed = seed
        self.topics = Topics(topic_prefix)
        self.http_timeout_s = http_timeout_s
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Job]] = []
        self._order = itertools.count()  # ties in the heap: first scheduled, first run
        self._jobs: dict[tuple[str, str], Job] = {}
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._stopping = threading.Event()
        self._connections: list[MqttConnection] = []
        self._timer: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> WorkerSimulator:
        self._stopping.clear()
        self._http = httpx.Client(timeout=self.http_timeout_s)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sim-workers-http")
        self._timer = threading.Thread(target=self._run_timer, name="sim-workers-timer", daemon=True)
        self._timer.start()
        for worker in sorted(self.tokens):
            connection = MqttConnection(
                self.mqtt, f"gridwatch-sim-worker-{worker}", subscriptions=[self.topics.worker_notify(worker)],
                on_message=lambda message, worker=worker: self._on_notify(worker, message), persistent=True,
            )
            self._connections.append(connection.start())
        log.info("simulating %d grid workers (speed x%g, %.0f%% never answer) against %s",
                 len(self.tokens), self.speed, self.ignore * 100, self.base_url)
        return self

    def wait_ready(self, timeout: float) -> bool:
        """Every phone is connected and subscribed (a notify published now reaches it)."""
        deadline = time.monotonic() + timeout
        return all(c.wait_subscribed(max(0.0, deadline - time.monotonic())) for c in self._connections)

    def stop(self) -> None:
        """Phones off: pending steps are dropped; the persistent sessions stay at the broker."""
        self._stopping.set()
        for connection in self._connections:
            connection.stop()
        self._connections.clear()
        with self._wake:
            self._heap.clear()
            self._wake.notify_all()
        if self._timer is not None:
            self._timer.join(5.0)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> WorkerSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    # --- notify (MQTT network thread: decide and schedule, nothing slow) ---------------

    def _on_notify(self, worker: str, message: InboundMessage) -> None:
        try:
            notify = NotifyMessage.model_validate_json(message.payload)
        except ValidationError as exc:
            self._count("invalid")
            log.warning("%s: bad notify payload on %s, skipped: %s", worker, message.topic,
                        exc.errors(include_url=False)[:3])
            return
        info = notify.dispatch
        if info.reason == "escalated":
            # A grid leader or station told of a missed deadline: in the simulation they only note it.
            self._count("escalations")
            log.info("%s: told that alert %s (%s, %s) missed its deadline (escalation %d)",
                     worker, notify.id, notify.type, info.state, info.escalation)
            return
        if notify.to != worker or info.reason not in ANSWERED or info.assignee != worker:
            log.debug("%s: notify for %s (%s), nothing to do", worker, notify.id, info.reason)
            return
        first = FIRST_STEP.get(info.state)
        key = (worker, notify.id)
        with self._lock:
            if first is None or key in self._jobs:
                return  # closed already, or a redelivery of one this phone is working on
            # Seeded per worker and alert, so the same alert gets the same answer whatever the arrival order.
            answer = plan(notify.type, notify.severity, random.Random(f"{self.seed}:{worker}:{notify.id}"),
                          ignore=self.ignore)
            job = Job(worker, notify.id, answer.steps()[first:])
            self._jobs[key] = job
            self._counters["notified"] += 1
            if not answer.answers:
                self._counters["ignored"] += 1
                job.done = True
        if job.done:
            log.info("%s: alert %s (%s) will never be answered", worker, notify.id, notify.type)
            return
        log.info("%s: alert %s (%s, %s) %s; will %s in %.0f s", worker, notify.id, notify.type, notify.severity,
                 info.reason, job.steps[0][0], job.steps[0][1] / self.speed)
        self._schedule(job, job.steps[0][1] / self.speed)

    # --- timer thread and HTTP pool ------------------------------------------------------

    def _schedule(self, job: Job, delay_s: float) -> None:
        with self._wake:
            if self._stopping.is_set():
                return
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._order), job))
            self._wake.notify()

    def _run_timer(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                if not self._heap or self._heap[0][0] > now:
                    self._wake.wait(self._heap[0][0] - now if self._heap else None)
                    continue
                _due, _n, job = heapq.heappop(self._heap)
            pool = self._pool
            if pool is None or self._stopping.is_set():
                return
            try:
                pool.submit(self._run_step, job)
            except RuntimeError:  # the pool is shutting down
                return

    def _run_step(self, job: Job) -> None:
        try:
            self._call(job)
        except Exception:  # a bug here must not kill the pool's thread silently
            self._count("errors")
            log.exception("%s: step %s of alert %s failed", job.worker, job.steps[job.index][0], job.alert_id)

    def _call(self, job: Job) -> None:
        action, _delay, note = job.steps[job.index]
        client = self._http
        if client is None or self._stopping.is_set():
            return
        url = f"{self.base_url}/api/v1/alerts/{quote(job.alert_id, safe='')}/{action}"
        body = LifecycleBody(note=note).model_dump(exclude_none=True)
        try:
            response = client.post(url, json=body, headers={"Authorization": f"Bearer {self.tokens[job.worker]}"})
        except httpx.HTTPError as exc:
            self._retry(job, f"{type(exc).__name__}: {exc}")
            return
        status = response.status_code
        if status < 300:
            self._count(PAST[action])
            log.info("%s: %s alert %s: %s", job.worker, PAST[action], job.alert_id, note)
            job.index += 1
            job.attempts = 0
            if job.index < len(job.steps):
                self._schedule(job, job.steps[job.index][1] / self.speed)
            else:
                job.done = True
        elif status >= 500 or status == 429:
            self._retry(job, f"HTTP {status}")
        elif status == 409:
            # Someone else closed it, or it was taken from this worker: nothing left to do.
            job.done = True
            self._count("conflicts")
            log.info("%s: alert %s moved on, %s refused (409): %s", job.worker, job.alert_id, action,
                     _detail(response))
        else:
            job.done = True
            self._count("errors")
            if status == 401:
                log.error("%s: the dispatch endpoint does not know this worker's token (401) on %s of alert %s: "
                          "check the tokens file against the registry's token_sha256", job.worker, action,
                          job.alert_id)
            elif status == 403:
                # Not this worker's alert (any more): reassigned, or outside the worker's grids.
                log.error("%s: may not %s alert %s (403): %s", job.worker, action, job.alert_id, _detail(response))
            else:
                log.warning("%s: %s of alert %s answered %d: %s", job.worker, action, job.alert_id, status,
                            _detail(response))

    def _retry(self, job: Job, why: str) -> None:
        job.attempts += 1
        action = job.steps[job.index][0]
        if job.attempts >= self.max_attempts:
            job.done = True
            self._count("errors")
            log.error("%s: gave up on %s of alert %s after %d tries: %s", job.worker, action, job.alert_id,
                      job.attempts, why)
            return
        # Backoff in wall seconds, not divided by the speed: it is about the endpoint, not the worker.
        backoff = min(0.5 * 2 ** (job.attempts - 1), self.max_backoff_s)
        self._count("retries")
        log.warning("%s: %s of alert %s failed (%s); retrying in %.1f s", job.worker, action, job.alert_id,
                    why, backoff)
        self._schedule(job, backoff)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body) if isinstance(body, dict) else body)[:200]

