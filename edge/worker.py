"""The edge worker: MQTT in, rules on event time, alert changes out — wired in one place.

Threads: paho's network thread hands messages to a bounded queue (back-pressure, never
work in the callback); one processing thread decodes, runs the rules and checkpoints;
the alert sender delivers the outbox. Messages are acknowledged only after the state and
alert changes they caused are committed, so a kill -9 loses nothing. Elevator frames and door
statuses bypass the queue and are acked at once (edge.elevator.pipeline: a latest-frame slot
per camera, its own detector thread).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edge.config import EdgeConfig
from edge.dispatch_client import AlertSender
from edge.elevator.model import load_chain
from edge.elevator.pipeline import ElevatorPipeline
from edge.health import HealthServer
from edge.metrics import BoundedLabels, edge_registry
from edge.outbox import Outbox
from edge.partition import restrict, share_of
from edge.store import EdgeStore
from ingest.config import secret
from ingest.deadletter import DeadLetterSink
from ingest.decode import Rejected, decode_away, decode_readings
from ingest.mqtt_client import InboundMessage, MqttConnection
from ingest.registry import Registry
from ingest.timeseries import build_writer
from ingest.topics import Route, Topics
from ingest.wire.alert import Alert
from ingest.wire.timestamps import parse_ts
from ingest.wire.water import Reading
from models.vision.detector import Detector
from rules.episode import AlertChange
from rules.water import WaterRules
from rules.water.gateway import GATEWAY as GATEWAY_OFFLINE
from rules.watermark import Watermark

log = logging.getLogger(__name__)

# Dead letters per batch: each of the first few bad readings quoted alone, then one line for the rest (a
# batch of 10,000 bad readings made 10,000 letters, each quoting the batch's first 200 bytes).
MAX_LETTERS_PER_BATCH = 20
CHECKPOINT_EVERY_S = 0.2
ADVANCE_EVERY_S = 0.5
STATS_EVERY_S = 60.0


@dataclass
class WorkerStats:
    messages: int = 0
    readings: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    alert_changes: int = 0
    checkpoints: int = 0
    unknown_meters: int = 0


class EdgeWorker:
    def __init__(self, config: EdgeConfig, registry: Registry, detector: Detector | None = None) -> None:
        """`detector`: the e-bike detector (default: loaded from `config.elevator`)."""
        self.config = config
        self.topics = Topics(config.mqtt.topic_prefix)
        self.share = share_of(config.partition, registry) if config.partition else None
        if self.share is not None:  # rules, cameras and sources see only this partition's subjects
            registry = restrict(registry, self.share)
        self.registry = registry
        self.stats = WorkerStats()
        self.earliest = parse_ts(config.ingest.earliest_ts)
        # Meters not in the registry -> event time of their last reading: bounded and expired (IngestConfig).
        self._unregistered: OrderedDict[str, float] = OrderedDict()
        self._forgotten: list[str] = []  # meter states to delete at the next checkpoint
        self.unregistered_refused = 0
        self.unregistered_expired = 0
        self._queue: queue.Queue[InboundMessage] = queue.Queue(maxsize=max(2 * config.mqtt.max_inflight, 1000))
        self._stop = threading.Event()
        self._accepting = True
        self._thread: threading.Thread | None = None

        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = EdgeStore(config.state_dir / "edge.sqlite")
        # A building's gateway is judged only by a worker that sees all of its meters: a hash partition splits
        # buildings, and two partitions would each raise (and clear) the same building's gateway_offline.
        whole_buildings = config.partition is None or config.partition.buildings is not None
        self.rules = WaterRules(config.water.thresholds_for(registry), self._building_of if whole_buildings else None)
        self.watermark = Watermark(config.water.allowed_lateness_s, config.water.idle_advance_s)
        self.mqtt = MqttConnection(
            config.mqtt,
            config.mqtt.client_id or f"gridwatch-{config.edge_id}",
            subscriptions=self._subscriptions(),
            on_message=self._enqueue,
            manual_ack=True,
            persistent=True,
            password=secret(config.mqtt.password_env),
        )
        self.deadletters = DeadLetterSink(self.mqtt.publish, self.topics, config.edge_id)
        self.timeseries = build_writer(config.timeseries, config.state_dir)
        cameras = BoundedLabels((e.id for e in registry.elevators), config.metrics.max_camera_labels)
        self.metrics, self.timings = edge_registry(self.snapshot, self.healthy, cameras)
        self.outbox = Outbox(self.store.path)
        self.sender = AlertSender(self.outbox, config.dispatch, publish=self.mqtt.publish, topics=self.topics,
                                  timings=self.timings)
        self.elevator = self._elevator_pipeline(detector) if config.elevator.enabled else None
        self.health = (
            HealthServer(config.health_listen, self.snapshot, self.healthy, self.metrics)
            if config.health_listen else None
        )

    def _subscriptions(self) -> list[str]:
        elevators = self.config.elevator.enabled
        if self.share is not None:  # exactly its own meters' and cameras' topics
            return self.share.topics(self.topics, elevators=elevators)
        return self.topics.water_subscriptions() + (self.topics.elevator_subscriptions() if elevators else [])

    def _elevator_pipeline(self, detector: Detector | None) -> ElevatorPipeline:
        cfg = self.config.elevator
        return ElevatorPipeline(
            cfg, edge_id=self.config.edge_id, registry=self.registry, topics=self.topics,
            chain=load_chain(cfg, detector),
            publish=self.mqtt.publish, deadletters=self.deadletters, outbox_path=self.store.path,
            state_dir=self.config.state_dir, wake=self.sender.wake,
            max_future_skew_s=self.config.ingest.max_future_skew_s, timings=self.timings,
        )

    # ---- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        states = self.store.load_meter_states()
        self.rules.load(states)
        for meter_id in states:
            if self.registry.meter(meter_id) is None:
                self._unregistered[meter_id] = self.rules.last_reading_at(meter_id) or 0.0
        self.watermark.load(self.store.get("watermark") or {})
        log.info("edge %s: restored state of %d meters", self.config.edge_id, len(states))
        self.sender.start()
        self._thread = threading.Thread(target=self._process_loop, name="edge-rules", daemon=True)
        self._thread.start()
        if self.elevator:
            self.elevator.start()  # first releases the doors a killed previous run held (queued until connected)
        self.mqtt.start()
        if self.health:
            self.health.start()

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop taking messages, finish those taken, checkpoint and ack, let the sender drain."""
        self._accepting = False
        if self.health:
            self.health.stop()
        if self.elevator:
            # Release every held door while still connected: an elevator is never held by a dead program.
            self.elevator.stop()
            self.mqtt.flush(5.0)
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        self.sender.stop(drain_timeout_s)
        self.mqtt.stop()
        self.timeseries.close()
        self.store.close()

    # ---- MQTT thread: hand over, never work here ----------------------------------------
    def _enqueue(self, message: InboundMessage) -> None:
        if self.elevator is not None and self.elevator.offer(message):
            self.mqtt.ack(message)  # a frame is worth nothing later: never redelivered, never queued
            return
        if self._accepting:  # when stopping, leave it unacknowledged: the broker redelivers it
            self._queue.put(message)  # blocks when full: back-pressure to the broker

    # ---- processing thread ----------------------------------------------------------------
    def _process_loop(self) -> None:
        pending_acks: list[InboundMessage] = []
        changes: list[AlertChange] = []
        first_pending = 0.0
        last_advance = last_stats = time.monotonic()
        while True:
            try:
                message = self._queue.get(timeout=0.05)
            except queue.Empty:
                message = None
            if message is not None:
                if not pending_acks:
                    first_pending = time.monotonic()
                pending_acks.append(message)
                changes += self._handle(message)
            now = time.monotonic()
            if now - last_advance >= ADVANCE_EVERY_S or (message is None and pending_acks):
                changes += self._advance()
                self._expire_unregistered()
                last_advance = now
            stopping = self._stop.is_set() and self._queue.empty()
            if changes or self._forgotten or (pending_acks and (
                len(pending_acks) >= self.config.mqtt.max_inflight // 2
                or now - first_pending >= CHECKPOINT_EVERY_S or message is None or stopping
            )):
                self._checkpoint(changes, pending_acks)
                changes, pending_acks = [], []
            if now - last_stats >= STATS_EVERY_S:
                self._log_stats()
                last_stats = now
            if stopping:
                return

    def _handle(self, message: InboundMessage) -> list[AlertChange]:
        started = time.perf_counter()
        route = self.topics.parse(message.topic)
        try:
            return self._judge(message, route)
        finally:
            self.timings.message_of(route.kind if route else None).observe(time.perf_counter() - started)

    def _judge(self, message: InboundMessage, route: Route | None) -> list[AlertChange]:
        self.stats.messages += 1
        wall = time.time()
        now = datetime.fromtimestamp(wall, tz=UTC)
        try:
            if route is None:
                raise Rejected(f"unknown topic: {message.topic}")
            if route.kind == "water_reading":
                decoded = decode_readings(
                    route.subject, message.payload, now,
                    max_future_skew_s=self.config.ingest.max_future_skew_s, earliest=self.earliest,
                )
                self._reject_readings(message.topic, message.payload, decoded.rejected, decoded.rejected_raw, now)
                return self._on_readings(message.topic, message.payload, decoded.readings, wall, now)
            if route.kind == "water_away":
                notice = decode_away(route.subject, message.payload, now)
                if not self._admit_meter(message.topic, message.payload, notice.meter_id, notice.start, now):
                    return []
                return self.rules.on_away(notice)
            raise Rejected(f"not consumed by this edge: {route.kind}")
        except Rejected as exc:
            self.deadletters.reject(message.topic, exc.reason, message.payload, now)
        except Exception as exc:  # a bug must not stop the worker: say it, dead-letter it, go on
            log.exception("failed to handle a message on %s", message.topic)
            self.deadletters.reject(message.topic, f"internal error: {type(exc).__name__}", message.payload, now)
        return []

    def _reject_readings(self, topic: str, payload: bytes, rejected: list[tuple[int, str]],
                         raw: dict[int, bytes], now: datetime) -> None:
        """A batch's bad readings: the first MAX_LETTERS_PER_BATCH quoting themselves, then one line for the rest."""
        for index, reason in rejected[:MAX_LETTERS_PER_BATCH]:
            self.deadletters.reject(topic, f"{reason} (reading {index} of the batch)", raw.get(index, payload), now)
        rest = rejected[MAX_LETTERS_PER_BATCH:]
        if rest:
            kinds = Counter(reason.split(":", 1)[0] for _, reason in rest)
            summary = ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common(5))
            self.deadletters.reject(topic, f"batch: {len(rest)} more bad readings not listed one by one ({summary})",
                                    raw.get(rest[0][0], payload), now)

    def _admit_meter(self, topic: str, payload: bytes, meter_id: str, ts: datetime, now: datetime) -> bool:
        """A registered meter always; one nobody registered while fewer than max_unregistered_meters are kept."""
        if meter_id in self._unregistered:
            self._unregistered[meter_id] = max(self._unregistered[meter_id], ts.timestamp())
            return True
        if self.registry.meter(meter_id) is not None:
            return True
        cap = self.config.ingest.max_unregistered_meters
        if len(self._unregistered) >= cap:
            self.unregistered_refused += 1
            self.deadletters.reject(topic, f"unknown meter: over the limit of {cap} unregistered meters; not "
                                    "processed (add it to the registry)", payload, now)
            return False
        self._unregistered[meter_id] = ts.timestamp()
        self.stats.unknown_meters += 1
        self.deadletters.reject(topic, "unknown meter: processed, its alerts go to the unassigned queue", payload, now)
        return True

    def _expire_unregistered(self) -> None:
        """Forget unregistered meters far behind the watermark with no open alert (their state is freed)."""
        mark = self.watermark.value(time.time())
        if mark is None or not self._unregistered:
            return
        horizon = mark.timestamp() - self.config.ingest.unregistered_meter_expire_h * 3600
        for meter_id in [m for m, last in self._unregistered.items() if last < horizon]:
            if self.rules.forget(meter_id):
                del self._unregistered[meter_id]
                self._forgotten.append(meter_id)
                self.unregistered_expired += 1
                log.info("meter %s (not in the registry) silent since before %s: forgotten", meter_id, mark)

    def _on_readings(self, topic: str, payload: bytes, readings: list[Reading], wall: float,
                     now: datetime) -> list[AlertChange]:
        changes: list[AlertChange] = []
        max_late = self.config.ingest.max_lateness_h * 3600
        kept: list[Reading] = []
        for reading in readings:
            lateness = self.watermark.lateness_of(reading.ts)
            if lateness is not None and lateness.total_seconds() > max_late:
                self.deadletters.reject(
                    topic, f"too late: {lateness.total_seconds() / 3600:.0f} h behind the fleet", payload, now
                )
                continue
            if not self._admit_meter(topic, payload, reading.meter_id, reading.ts, now):
                continue
            # Judge silences against the watermark before each reading (cheap when nothing is
            # due): the alerts then depend on the order of the readings, not on timing.
            changes += self._advance(wall)
            outcome = self.rules.on_reading(reading)
            self.stats.outcomes[outcome.status] += 1
            changes += outcome.changes
            self.watermark.observe(reading.ts, wall)
            kept.append(reading)
        self.stats.readings += len(kept)
        if kept:
            self.timeseries.write_readings(kept)
        return changes

    def _advance(self, wall: float | None = None) -> list[AlertChange]:
        mark = self.watermark.value(time.time() if wall is None else wall)
        return self.rules.advance(mark) if mark is not None else []

    def _checkpoint(self, changes: list[AlertChange], acks: list[InboundMessage]) -> None:
        with self.timings.checkpoint.time():
            self._commit(changes, acks)

    def _commit(self, changes: list[AlertChange], acks: list[InboundMessage]) -> None:
        alerts = [self._to_alert(change) for change in changes]
        forgotten, self._forgotten = self._forgotten, []
        added = self.store.checkpoint(self.rules.dirty(), alerts, {"watermark": self.watermark.to_state()},
                                      forget_meters=forgotten)
        if self.config.timeseries.kind == "sqlite":
            # The embedded store is local and cheap: make the readings durable before the ack.
            # A remote InfluxDB keeps its own buffer; a slow server must not hold the rules up.
            self.timeseries.flush()
        for message in acks:
            self.mqtt.ack(message)
        self.stats.checkpoints += 1
        if alerts:
            self.stats.alert_changes += added
            for alert in alerts:
                self.timeseries.write_alert(alert)
                log.info("alert %s %s %s %s: %s", alert.state, alert.severity, alert.type, alert.subject,
                         alert.summary)
            self.sender.wake()

    def _building_of(self, meter_id: str) -> str | None:
        meter = self.registry.meter(meter_id)
        return meter.building if meter else None

    def _to_alert(self, change: AlertChange) -> Alert:
        if change.type == GATEWAY_OFFLINE:  # its subject is the building
            building, grid = self.registry.place(change.subject)
            return change.to_alert(self.config.edge_id, building or change.subject, grid)
        building, grid = self.registry.place_of_meter(change.subject)
        return change.to_alert(self.config.edge_id, building, grid)

    # ---- observability --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        mark = self.watermark.value(time.time())
        return {
            "edge_id": self.config.edge_id,
            "messages": self.stats.messages,
            "readings": self.stats.readings,
            "outcomes": dict(self.stats.outcomes),
            "meters": self.rules.meters(),
            "unknown_meters": self.stats.unknown_meters,
            "unregistered_meters": {"kept": len(self._unregistered), "refused_readings": self.unregistered_refused,
                                    "expired": self.unregistered_expired},
            "dead_letters": dict(self.deadletters.counts),
            "alert_changes": self.stats.alert_changes,
            "checkpoints": self.stats.checkpoints,
            "queue": self._queue.qsize(),
            "watermark": mark.isoformat() if mark else None,
            "outbox": self.outbox.stats(),
            "sender": self.sender.snapshot(),
            "mqtt_connected": self.mqtt.connected.is_set(),
            "elevator": self.elevator.snapshot() if self.elevator else None,
        }

    def healthy(self) -> bool:
        """Connected and subscribed at the broker, the rules thread alive, and the elevator threads alive."""
        elevator_ok = self.elevator is None or self.elevator.alive
        return bool(self._thread and self._thread.is_alive() and self.mqtt.subscribed.is_set() and elevator_ok)

    def _log_stats(self) -> None:
        log.info("edge stats %s", self.snapshot())
