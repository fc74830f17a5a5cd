"""The pusher: follows dispatch's durable event log and delivers every notify to the recipient's phone
(MQTT) and external channels (apprise), at least once, surviving broker outages and restarts.

One loop thread reads new events (woken by the store's commit listener, and every `poll_s`),
records their deliveries in the ledger, and hands due ones to a thread pool per channel kind; the
pools report back through a queue, and only the loop thread writes the ledger's outcomes. See
schedule.py for the order and backoff of attempts, ledger.py for what survives a restart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dispatch.push.apprise_channel import AppriseChannel, fingerprint, redact
from dispatch.push.base import Channel, DeliveryError, Outgoing, UndeliverableError
from dispatch.push.config import PushConfig
from dispatch.push.ledger import Delivery, Ledger
from dispatch.push.mqtt_notify import MqttNotifyChannel
from dispatch.push.schedule import Schedule
from ingest.config import MqttConfig
from ingest.registry import Registry
from ingest.wire.alert import STORED, Alert
from ingest.wire.dispatch import FeedEvent, NotifyMessage

log = logging.getLogger(__name__)

LEDGER_FILE = "push.sqlite"
STATION_PREFIX = "station:"
READ_BATCH = 500
KEEP_FINISHED_S = 7 * 86400  # finished deliveries stay in the ledger this long (for inspection)


class EventSource(Protocol):
    """What the pusher needs of dispatch.store.AlertStore."""

    def events_after(self, seq: int, *, queues: Any = None, limit: int = 500) -> list[FeedEvent]: ...
    def add_listener(self, callback: Callable[[int], None]) -> None: ...
    def remove_listener(self, callback: Callable[[int], None]) -> None: ...
    def get(self, alert_id: str) -> Any: ...  # StoredAlert | None, with .alert: Alert


@dataclass(frozen=True, slots=True)
class _Outcome:
    target: str
    delivery: Delivery
    ok: bool
    permanent: bool = False
    error: str = ""
    acked_at: float = 0.0  # wall clock, when ok


def _kind(channel: str) -> str:
    return channel.split(":", 1)[0]


def _target_kind(target: str) -> str:
    return "mqtt" if target.startswith("mqtt/") else "apprise"


def _target(delivery: Delivery) -> str:
    # The phone topic is per worker; an apprise URL is one target whoever it serves.
    return f"mqtt/{delivery.recipient}" if delivery.channel == "mqtt" else delivery.channel


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Pusher:
    """Started once and stopped once (`start`/`stop`, or `with`). `counters()` from any thread.

    `channels` replaces the default ones ("mqtt" when `mqtt` is given, "apprise" always); `ledger`
    the default one in state_dir (a PostgreSQL store hands its shared one)."""

    def __init__(
        self,
        store: EventSource,
        registry: Registry,
        config: PushConfig,
        mqtt: MqttConfig | None,
        state_dir: Path,
        topic_prefix: str = "grid",
        *,
        channels: dict[str, Channel] | None = None,
        on_delivered: Callable[[str, float], None] | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        """`on_delivered(kind, seconds)`: each acknowledged push, event to ack (the metrics' histogram)."""
        self.store = store
        self._on_delivered = on_delivered
        self.registry = registry
        self.config = config
        self.ledger = ledger if ledger is not None else Ledger(Path(state_dir) / LEDGER_FILE)
        if channels is None:
            buildings = {b.id: b.name or b.id for b in registry.buildings}
            channels = {"apprise": AppriseChannel(timeout_s=config.apprise_timeout_s, building_name=buildings.get)}
            if mqtt is not None:
                channels["mqtt"] = MqttNotifyChannel(
                    mqtt, client_id=config.client_id, topic_prefix=topic_prefix,
                    ack_timeout_s=config.mqtt_ack_timeout_s,
                )
        self.channels = channels
        # Apprise URLs by fingerprint: the ledger never holds a URL (they carry tokens).
        self._urls = {fingerprint(u): u for w in registry.workers for u in w.channels}
        self._urls |= {fingerprint(u): u for s in registry.stations for u in s.channels}

        self._schedule = Schedule(config.retry_min_s, config.retry_max_s)
        self._results: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._new_events = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._cursor = 0
        self._ready_before: dict[str, bool] = {}
        self._failing: set[str] = set()  # targets whose last attempt failed (log on transitions only)
        self._told: set[str] = set()  # recipients already logged as unknown / without a channel
        self._broken: set[str] = set()  # loop steps whose last run failed
        self._lock = threading.Lock()
        self._counts = {"delivered": 0, "failed_attempts": 0, "expired": 0, "dropped": 0,
                        "unknown_recipients": 0, "no_channel": 0, "skipped_events": 0}
        self._latency: dict[str, deque[float]] = {
            k: deque(maxlen=config.latency_window) for k in ("all", "mqtt", "apprise")
        }

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Pusher:
        self.ledger.prune(time.time() - KEEP_FINISHED_S)
        self._cursor = self.ledger.cursor()
        for delivery in self.ledger.pending():
            if _kind(delivery.channel) in self.channels:
                self._schedule.add(_target(delivery), delivery)
            else:
                self._give_up(delivery, "dropped", f"channel {_kind(delivery.channel)} is no longer configured")
        if len(self._schedule):
            log.info("push: %d deliveries pending from before the restart", len(self._schedule))
        for kind, channel in self.channels.items():
            workers = self.config.mqtt_workers if kind == "mqtt" else self.config.apprise_workers
            self._pools[kind] = ThreadPoolExecutor(workers, thread_name_prefix=f"push-{kind}")
            start = getattr(channel, "start", None)
            if start is not None:
                start()
        self.store.add_listener(self._on_commit)
        self._stopping.clear()
        self._new_events.set()
        self._thread = threading.Thread(target=self._run, name="push", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Idempotent. Deliveries under way are given until their channel's timeout; what is left stays
        pending in the ledger for the next start."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._wake.set()
        try:
            self.store.remove_listener(self._on_commit)
        except Exception:  # the store may be closed already; nothing to unhook then
            log.debug("push: remove_listener failed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout_s)
        for channel in self.channels.values():
            channel.close()  # ends attempts waiting for an acknowledgement
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._settle()  # outcomes that came in while stopping
        self.ledger.close()

    def __enter__(self) -> Pusher:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def counters(self) -> dict[str, int | float]:
        with self._lock:
            out: dict[str, int | float] = dict(self._counts)
            out["pending"] = len(self._schedule)
            for kind, values in self._latency.items():
                prefix = "" if kind == "all" else f"{kind}_"
                snapshot = list(values)
                out[f"{prefix}latency_p50_ms"] = round(_percentile(snapshot, 0.50) * 1000, 1)
                out[f"{prefix}latency_p95_ms"] = round(_percentile(snapshot, 0.95) * 1000, 1)
        mqtt = self.channels.get("mqtt")
        out["mqtt_connected"] = int(mqtt.ready()) if mqtt is not None else 0
        return out

    # --- the loop -----------------------------------------------------------------------

    def _on_commit(self, _seq: int) -> None:
        # Called from the committing thread: only flag it.
        self._new_events.set()
        self._wake.set()

    def _run(self) -> None:
        apprise = self.channels.get("apprise")
        if self._urls and isinstance(apprise, AppriseChannel):
            self._guard(apprise.warm)  # here, not in start(): the app's start-up need not wait for it
        next_read = 0.0
        while not self._stopping.is_set():
            if self._new_events.is_set() or time.monotonic() >= next_read:
                self._new_events.clear()
                next_read = time.monotonic() + self.config.poll_s
                self._guard(self._read_events)
            for step in (self._settle, self._expire, self._reset_recovered, self._start_due):
                self._guard(step)
            wakeup = self._schedule.next_wakeup()
            until = next_read if wakeup is None else min(next_read, wakeup)
            self._wake.wait(max(0.0, until - time.monotonic()))
            self._wake.clear()

    def _guard(self, step: Callable[[], None]) -> None:
        """Run one step; the loop never dies. A step that keeps failing is logged once, then on recovery."""
        name = step.__name__
        try:
            step()
        except Exception:
            if name not in self._broken:
                self._broken.add(name)
                log.exception("push: %s failed; retrying every %g s", name, self.config.poll_s)
            return
        if name in self._broken:
            self._broken.discard(name)
            log.info("push: %s works again", name)

    def _read_events(self) -> None:
        while not self._stopping.is_set():
            events = self.store.events_after(self._cursor, limit=READ_BATCH)
            if not events:
                return
            deliveries = []
            for event in events:
                try:
                    deliveries += self._deliveries_of(event)
                except Exception:  # one event the pusher cannot turn into messages must not hold up the rest
                    self._count("skipped_events")
                    log.exception("push: event %d of alert %s skipped: its notifications cannot be built",
                                  event.seq, event.alert.id)
            self.ledger.admit(events[-1].seq, deliveries)
            self._cursor = events[-1].seq
            with self._lock:
                for delivery in deliveries:
                    self._schedule.add(_target(delivery), delivery)
            if len(events) < READ_BATCH:
                return

    def _deliveries_of(self, event: FeedEvent) -> list[Delivery]:
        if not event.notify:
            return []
        event_at = event.at.timestamp()
        if event_at < time.time() - self.config.expire_after_s:
            self._count("expired", len(event.notify))
            return []
        view = event.alert.model_dump(mode="json")
        view["dispatch"]["reason"] = event.reason or "dispatched"
        view["snapshot_jpeg_b64"] = None  # taken from the store when sent, not copied into the ledger
        out = []
        for recipient in dict.fromkeys(event.notify):
            channels = self._channels_of(recipient)
            if not channels:
                continue
            message = NotifyMessage.model_validate({**view, "to": recipient}, context=STORED).model_dump_json()
            out += [
                Delivery(Delivery.make_key(event.seq, recipient, channel), event.seq, event.alert.id, recipient,
                         channel, event_at, message)
                for channel in channels
            ]
        return out

    def _channels_of(self, recipient: str) -> list[str]:
        """The ledger's channel names for one recipient: "mqtt" and "apprise:<fingerprint>" per URL."""
        if recipient.startswith(STATION_PREFIX):
            station = self.registry.station(recipient.removeprefix(STATION_PREFIX))
            urls = station.channels if station is not None else None
            phone = False  # a station has no phone topic; its staff are notified as workers
        else:
            worker = self.registry.worker(recipient)
            urls = worker.channels if worker is not None else None
            phone = "mqtt" in self.channels
        if urls is None:
            self._count("unknown_recipients")
            self._tell_once(recipient, "push: %s is not in the registry; its notifications are skipped", recipient)
            return []
        channels = (["mqtt"] if phone else []) + [f"apprise:{fingerprint(u)}" for u in urls]
        if "apprise" not in self.channels:
            channels = [c for c in channels if _kind(c) != "apprise"]
        if not channels:
            self._count("no_channel")
            self._tell_once(recipient, "push: %s has no channel to push to (no MQTT, no apprise URL)", recipient,
                            level=logging.INFO)
        return channels

    def _start_due(self) -> None:
        with self._lock:
            due = self._schedule.due(time.monotonic(), self._ready)
        for target, delivery in due:
            self._pools[_kind(delivery.channel)].submit(self._attempt, target, delivery)

    def _ready(self, target: str) -> bool:
        channel = self.channels.get(_target_kind(target))
        return channel is not None and channel.ready()

    def _reset_recovered(self) -> None:
        """A channel that came back (the broker is up again): retry its targets now, not after their backoff."""
        for kind, channel in self.channels.items():
            ready = channel.ready()
            if ready and self._ready_before.get(kind) is False:
                with self._lock:
                    self._schedule.reset(lambda target, k=kind: _target_kind(target) == k)
            self._ready_before[kind] = ready

    def _expire(self) -> None:
        with self._lock:
            expired = self._schedule.expire(time.time() - self.config.expire_after_s)
        for _target_name, delivery in expired:
            self._give_up(delivery, "expired", f"not delivered within {self.config.expire_after_s:g} s")
            forget = getattr(self.channels.get(_kind(delivery.channel)), "forget", None)
            if forget is not None:
                forget(delivery.key)

    # --- one attempt (pool threads) and its outcome (loop thread) -----------------------

    def _attempt(self, target: str, delivery: Delivery) -> None:
        try:
            kind = _kind(delivery.channel)
            address = delivery.recipient if kind == "mqtt" else self._urls.get(delivery.channel.split(":", 1)[1])
            if address is None:
                raise UndeliverableError("the apprise URL is no longer in the registry")
            self.channels[kind].deliver(address, Outgoing(delivery.key, self._message(delivery, kind)))
            outcome = _Outcome(target, delivery, ok=True, acked_at=time.time())
        except UndeliverableError as exc:
            outcome = _Outcome(target, delivery, ok=False, permanent=True, error=str(exc))
        except DeliveryError as exc:
            outcome = _Outcome(target, delivery, ok=False, error=str(exc))
        except Exception as exc:  # a bug or a library surprise: retried like a failure, and shown
            if _kind(delivery.channel) == "mqtt":
                log.debug("push: attempt %s raised", delivery.key, exc_info=True)
                error = f"{type(exc).__name__}: {exc}"
            else:  # apprise's and requests' messages may quote the URL, and with it a token
                error = f"{type(exc).__name__} (its message is not shown: it may quote the URL)"
            outcome = _Outcome(target, delivery, ok=False, error=error)
        self._results.put(outcome)
        self._wake.set()

    def _message(self, delivery: Delivery, kind: str) -> NotifyMessage:
        message = NotifyMessage.model_validate_json(delivery.message, context=STORED)
        if kind == "mqtt" and self.config.include_snapshot and message.dispatch.has_snapshot:
            # Read when sent, not copied into the ledger: tens of kB per delivery.
            stored = self.store.get(delivery.alert_id)
            alert: Alert | None = getattr(stored, "alert", None)
            if alert is not None and alert.snapshot_jpeg_b64:
                message = message.model_copy(update={"snapshot_jpeg_b64": alert.snapshot_jpeg_b64})
        return message

    def _settle(self) -> None:
        while True:
            try:
                outcome = self._results.get_nowait()
            except queue.Empty:
                return
            self._record(outcome)

    def _record(self, outcome: _Outcome) -> None:
        delivery, target = outcome.delivery, outcome.target
        name = self._describe(delivery)
        if outcome.ok:
            self.ledger.done(delivery.key, outcome.acked_at)
            latency = outcome.acked_at - delivery.event_at
            with self._lock:
                self._schedule.finished(target, time.monotonic(), ok=True)
                self._counts["delivered"] += 1
                for key in ("all", _kind(delivery.channel)):
                    self._latency[key].append(latency)
            if self._on_delivered is not None:
                self._on_delivered(_kind(delivery.channel), latency)
            if target in self._failing:
                self._failing.discard(target)
                log.info("push: %s delivers again", name)
            return
        if outcome.permanent:
            with self._lock:
                self._schedule.drop(target)
            self._give_up(delivery, "dropped", outcome.error)
            log.error("push: %s of %s to %s dropped: %s", delivery.key, delivery.alert_id, name, outcome.error)
            return
        self.ledger.failed(delivery.key, outcome.error)
        with self._lock:
            delay = self._schedule.finished(target, time.monotonic(), ok=False)
            self._counts["failed_attempts"] += 1
        if target not in self._failing:
            self._failing.add(target)
            log.warning("push: %s failed: %s; retrying with backoff (first retry in %.1f s)", name, outcome.error,
                        delay or 0.0)
        else:
            log.debug("push: %s failed again: %s", name, outcome.error)

    def _give_up(self, delivery: Delivery, state: str, error: str) -> None:
        self.ledger.give_up(delivery.key, state, error, time.time())
        self._count(state)

    def _describe(self, delivery: Delivery) -> str:
        if delivery.channel == "mqtt":
            return f"MQTT notify to {delivery.recipient}"
        url = self._urls.get(delivery.channel.split(":", 1)[1])
        return f"{redact(url) if url else delivery.channel} for {delivery.recipient}"

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _tell_once(self, recipient: str, message: str, *args: object, level: int = logging.WARNING) -> None:
        if recipient not in self._told:
            self._told.add(recipient)
            log.log(level, message, *args)
