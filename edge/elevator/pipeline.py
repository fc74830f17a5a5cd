"""The elevator pipeline of one edge worker: frames in, one detector thread, the e-bike rule, door linkage, alerts.

Threads and hand-overs:
- paho's network thread calls `offer()`: a frame becomes a `Frame` in its camera's latest-frame-wins slot
  (nothing is decoded there; frames never wait behind water readings), a door status is validated and queued.
- OpenCV sources (RTSP, video files, folders) feed the same slots from their own threads.
- one detector thread takes the newest frame of every camera that has one, in turn (a busy camera cannot
  starve the others), decodes, detects, and runs the rule, which only this thread touches.
- the linkage's watchdog thread releases doors of cameras that stopped being judged and checks camera liveness.
Order on a raise: the door hold goes out first (safety, latency), the alert right after, through the durable
outbox (this pipeline's own connection: the worker's belongs to its rules thread); the clip follows as an update.
Across restarts: the next run releases the doors a killed run held and clears the episodes it left open
(open_episodes.py); after a watchdog release, a bike still confirmed in its open episode is held again.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from edge.elevator.cameras import CameraLiveness
from edge.elevator.config import ElevatorConfig
from edge.elevator.evidence import ClipRecorder, annotate, encode_snapshot
from edge.elevator.flywheel import UnsureFrames
from edge.elevator.frame import Frame
from edge.elevator.judge import FrameJudge
from edge.elevator.linkage import DoorLinkage
from edge.elevator.model import EbikeChain
from edge.elevator.open_episodes import OpenEpisodes
from edge.elevator.sources import OpenCvSource, is_opencv_source
from edge.metrics import Timings
from edge.outbox import Outbox
from ingest.deadletter import DeadLetterSink
from ingest.decode import condense
from ingest.mqtt_client import InboundMessage
from ingest.registry import Registry
from ingest.topics import Topics
from ingest.wire.alert import Alert
from ingest.wire.elevator import ElevatorStatus
from models.vision.frames import FrameError, LatestFrameSlot, check_jpeg_size, decode_jpeg
from models.vision.types import Detections
from rules.elevator.ebike import Decision, EbikeRule, hold_commands
from rules.elevator.zone import Zone
from rules.episode import AlertChange

log = logging.getLogger(__name__)

ELEVATOR_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
IDLE_S = 0.2  # the detector thread looks at statuses and finished clips at least this often
MAX_FRAME_AGE_S = 86400.0  # a camera `ts` older than this (or ahead by more than the skew) is absurd
EPISODES_KEPT = 1000  # e-bike episodes whose last change is remembered (for the clip update)
PRUNE_EVERY_S = 3600.0  # evidence retention


def frame_ts(properties: dict[str, str], arrival: float, max_future_skew_s: float) -> tuple[float, bool]:
    """Event time of a frame: the v5 user property `ts` (epoch ms) when sane, else arrival. (ts, was it sane)."""
    raw = properties.get("ts")
    if raw is None:
        return arrival, True
    try:
        ts = int(raw) / 1000.0
    except ValueError:
        return arrival, False
    if ts > arrival + max_future_skew_s or ts < arrival - MAX_FRAME_AGE_S:
        return arrival, False
    return ts, True


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


@dataclass
class PipelineStats:
    frames_in: int = 0
    statuses: int = 0
    bad_ts: int = 0
    judged: int = 0
    decode_errors: int = 0
    internal_errors: int = 0
    raises: int = 0
    clears: int = 0
    restart_clears: int = 0  # episodes a previous run left open, cleared at start
    reholds: int = 0  # doors held again after a watchdog release, the bike still confirmed
    alert_changes: int = 0
    clip_updates: int = 0
    unsure_saved: int = 0
    empty_car_drops: int = 0  # e-bike boxes whose pixels were the empty car's
    last_raise_latency_ms: float | None = None  # frame ts -> the alert durable in the outbox
    stage_ms: dict[str, deque[float]] = field(
        default_factory=lambda: {k: deque(maxlen=200) for k in ("decode", "detect", "score", "rule", "total")}
    )


@dataclass(slots=True)
class _Episode:
    last: Alert  # the last change sent, as sent
    bump: int = 0  # clip updates sent on top of the rule's revisions
    extra: dict[str, Any] = field(default_factory=dict)  # evidence added by the edge (the clip)
    snapshot: str | None = None  # the deciding frame, kept on every later change so the view keeps it


class ElevatorPipeline:
    def __init__(
        self, config: ElevatorConfig, *, edge_id: str, registry: Registry, topics: Topics, chain: EbikeChain,
        publish: Any, deadletters: DeadLetterSink, outbox_path: Path, state_dir: Path, wake: Any,
        max_future_skew_s: float = 300.0, timings: Timings | None = None,
    ) -> None:
        self.config = config
        self.timings = timings or Timings()
        self.edge_id = edge_id
        self.registry = registry
        self.topics = topics
        self.detector = chain.detector
        self.deadletters = deadletters
        self.max_future_skew_s = max_future_skew_s
        self._wake_sender = wake
        self.stats = PipelineStats()
        self.outbox = Outbox(outbox_path)  # its own connection and lock: used from the detector and watchdog
        self.rule = EbikeRule(chain.params, {e.id: Zone.of(e.zone) for e in registry.elevators})
        self.judge = FrameJudge(chain.detector, self.rule, chain.scorer, config.empty_car)
        self.linkage = DoorLinkage(publish, topics, state_dir / "elevator_doors.json",
                                   watchdog_s=config.watchdog_s, max_hold_s=config.max_hold_s)
        self.open_episodes = OpenEpisodes(state_dir / "elevator_episodes.json")
        self.liveness = CameraLiveness(config.camera_silent_s, [e.id for e in registry.elevators],
                                       started=time.time())
        evidence_dir = config.evidence.dir or state_dir / "evidence"
        self.clips = ClipRecorder(evidence_dir, config.evidence)
        self.unsure = (UnsureFrames(config.flywheel.dir or state_dir / "unsure", config.flywheel,
                                    chain.detector.class_names, config.ebike.ebike_classes)
                       if config.flywheel.enabled else None)
        self._slots: dict[str, LatestFrameSlot[Frame]] = {}
        self._slots_lock = threading.Lock()
        self._unknown: set[str] = set()  # unregistered cameras already reported (once per stay)
        # Unregistered cameras being judged -> wall clock of their last frame; bounded (config.max_unregistered)
        # and expired (config.unregistered_expire_s), so made-up topics cannot grow the edge for good.
        self._unregistered: OrderedDict[str, float] = OrderedDict()
        self._unregistered_lock = threading.Lock()
        self.unregistered_refused = 0
        self.unregistered_expired = 0
        self._statuses: deque[tuple[str, ElevatorStatus]] = deque(maxlen=10_000)
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._accepting = False
        self._thread: threading.Thread | None = None
        self._judged: dict[str, float] = {}  # wall clock of each camera's last judged frame
        self._episodes: OrderedDict[str, _Episode] = OrderedDict()
        self._pruned = time.monotonic()
        self._sources = [
            OpenCvSource(e.id, e.source, self._put, config.source_fps)
            for e in registry.elevators if is_opencv_source(e.source)
        ]

    # ---- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        released = self.linkage.release_left_over()
        if released:
            log.warning("released %d elevator door(s) the previous run left held", released)
        self._clear_left_open()
        self._stop.clear()
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="elevator-detector", daemon=True)
        self._thread.start()
        self.linkage.start_watchdog(self._judged.get, self._check_cameras)
        for source in self._sources:
            source.start()

    def _clear_left_open(self) -> None:
        """Episodes the previous run left open are cleared: the car is judged afresh (a bike still there is a
        new episode), and an alert nobody can clear any more must not stay active at dispatch."""
        cleared = self.open_episodes.left_open(datetime.now(UTC))
        if cleared:
            log.warning("clearing %d elevator alert(s) the previous run left open", len(cleared))
            self._deliver(cleared)
            self.stats.restart_clears += len(cleared)
        self.open_episodes.forget_all()  # only after the outbox has the clears: a kill before repeats them

    def stop(self) -> None:
        """Stop taking frames, end the threads, and release every held door (before the worker disconnects)."""
        self._accepting = False
        for source in self._sources:
            source.stop()
        self._stop.set()
        self._wakeup.set()
        if self._thread:
            self._thread.join(timeout=30)
        self.linkage.stop_watchdog()
        released = self.linkage.release_all("the edge worker is stopping")
        if released:
            log.info("released %d elevator door(s) on stop", released)
        self.clips.close()
        self.outbox.close()

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive() and self.linkage.watchdog_alive)

    # ---- MQTT thread: hand over, never work here ------------------------------------------------
    def offer(self, message: InboundMessage) -> bool:
        """Take an elevator frame or status (True: the caller acks it at once); False: not ours."""
        route = self.topics.parse(message.topic)
        if route is None or route.kind not in ("elevator_frame", "elevator_status"):
            return False
        if not self._accepting:
            return True  # stopping: a frame is worth nothing later
        now = _at(message.received_at)
        if not ELEVATOR_ID_RE.match(route.subject):
            self.deadletters.reject(message.topic, "elevator_id: must be 1-64 characters of A-Z a-z 0-9 _ . -",
                                    message.payload, now)
            return True
        if not self._admit(route.subject, message, now):
            return True
        if route.kind == "elevator_frame":
            self.stats.frames_in += 1
            try:  # the header only (microseconds): a frame too large to decode never takes the detector's time
                check_jpeg_size(message.payload)
            except FrameError as exc:
                self.stats.decode_errors += 1
                self.deadletters.reject(message.topic, exc.reason, message.payload, now)
                return True
            ts, sane = frame_ts(message.user_properties, message.received_at, self.max_future_skew_s)
            if not sane:
                self.stats.bad_ts += 1
            self._put(Frame(route.subject, ts, message.received_at, jpeg=message.payload, topic=message.topic))
            return True
        try:
            status = ElevatorStatus.model_validate_json(message.payload)
        except ValidationError as exc:
            self.deadletters.reject(message.topic, f"status: {condense(exc)}", message.payload, now)
            return True
        self.stats.statuses += 1
        self._statuses.append((route.subject, status))  # deque append is atomic; the detector thread drains
        self._wakeup.set()
        return True

    def _admit(self, elevator_id: str, message: InboundMessage, now: datetime) -> bool:
        """A registered camera always; one nobody registered while fewer than max_unregistered are judged."""
        if self.registry.elevator(elevator_id) is not None:
            return True
        with self._unregistered_lock:
            known = elevator_id in self._unregistered
            if not known and len(self._unregistered) >= self.config.max_unregistered:
                self.unregistered_refused += 1
                refused = True
            else:
                self._unregistered[elevator_id] = message.received_at
                self._unregistered.move_to_end(elevator_id)
                refused = False
            first = not refused and elevator_id not in self._unknown
            if first:
                self._unknown.add(elevator_id)
        if refused:
            self.deadletters.reject(message.topic, f"unknown elevator: over the limit of {self.config.max_unregistered}"
                                    " unregistered cameras; not judged (add it to the registry)",
                                    message.payload[:200], now)
        elif first:
            self.deadletters.reject(message.topic, "unknown elevator: processed, its alerts go to the unassigned "
                                    "queue", message.payload[:200], now)
        return not refused

    def _expire_unregistered(self, wall: float) -> None:
        """Forget unregistered cameras silent for unregistered_expire_s (detector thread: it owns the rule)."""
        horizon = wall - self.config.unregistered_expire_s
        with self._unregistered_lock:
            stale = [eid for eid, last in self._unregistered.items() if last < horizon]
        for eid in stale:
            if self.linkage.snapshot().get("held", {}).get(eid) or not self.rule.forget(eid):
                continue  # an open episode or a held door: kept until they end
            with self._unregistered_lock:
                if self._unregistered.get(eid, wall) >= horizon:
                    continue  # a frame came in meanwhile
                del self._unregistered[eid]
                self._unknown.discard(eid)
            with self._slots_lock:
                self._slots.pop(eid, None)
            self._judged.pop(eid, None)
            self.judge.forget(eid)
            self.clips.forget(eid)
            if self.unsure is not None:
                self.unsure.forget(eid)
            self.unregistered_expired += 1
            log.info("elevator %s (not in the registry) silent for %.0f s: forgotten", eid,
                     self.config.unregistered_expire_s)

    def _put(self, frame: Frame) -> None:
        slot = self._slots.get(frame.elevator_id)
        if slot is None:
            with self._slots_lock:
                slot = self._slots.setdefault(frame.elevator_id, LatestFrameSlot())
        self.liveness.seen(frame.elevator_id, frame.received)
        slot.put(frame)
        self._wakeup.set()

    # ---- detector thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wakeup.wait(IDLE_S)
            self._wakeup.clear()
            self._apply_statuses()
            served = False
            # One frame per camera per round: fair, and each camera is judged on its newest frame.
            for slot in list(self._slots.values()):
                frame = slot.get(timeout=0)
                if frame is not None and not self._stop.is_set():
                    served = True
                    self._judge_safely(frame)
            if served:
                self._wakeup.set()  # look again at once: frames came in while we worked
            self._evidence_round()
            self._expire_unregistered(time.time())

    def _apply_statuses(self) -> None:
        while self._statuses:
            eid, status = self._statuses.popleft()
            self.judge.on_status(eid, status)

    def _judge_safely(self, frame: Frame) -> None:
        try:
            self._judge(frame)
        except FrameError as exc:
            self.stats.decode_errors += 1
            self.deadletters.reject(frame.topic or self.topics.elevator_frame(frame.elevator_id), exc.reason,
                                    frame.jpeg or b"", _at(frame.received))
        except Exception as exc:  # a bug must not stop the detector thread: say it, go on
            self.stats.internal_errors += 1
            log.exception("elevator %s: judging a frame failed", frame.elevator_id)
            self.deadletters.reject(frame.topic or self.topics.elevator_frame(frame.elevator_id),
                                    f"internal error: {type(exc).__name__}", frame.jpeg or b"", _at(frame.received))

    def _judge(self, frame: Frame) -> None:
        t0 = time.perf_counter()
        image = frame.image if frame.image is not None else decode_jpeg(frame.jpeg or b"")
        t1 = time.perf_counter()
        judgement = self.judge.judge(frame.elevator_id, _at(frame.ts), image)
        found, decision = judgement.found, judgement.decision
        self.stats.empty_car_drops += judgement.suppressed
        t3 = time.perf_counter()
        t2 = t1 + self.judge.detect_s
        self._judged[frame.elevator_id] = time.time()
        self.stats.judged += 1
        for name, value in (("decode", t1 - t0), ("detect", t2 - t1), ("score", self.judge.score_s),
                            ("rule", t3 - t2 - self.judge.score_s), ("total", t3 - t0)):
            self.stats.stage_ms[name].append(value * 1e3)  # score: calibration and the crop verifier
            self.timings.stages[name].observe(value)
        for command in decision.commands:  # the door first: safety and latency
            self.linkage.send(frame.elevator_id, command)
        if decision.confirmed and not decision.commands:
            self._hold_again(frame.elevator_id, frame.ts)
        self.clips.add(frame.elevator_id, frame.ts, image)  # before a start: the deciding frame is in the clip
        if decision.changes:
            self._emit(decision, frame, image, found)
        if self.unsure is not None and self.unsure.consider(frame.elevator_id, frame.ts, image, found):
            self.stats.unsure_saved += 1

    def _hold_again(self, elevator_id: str, ts: float) -> None:
        """Judging resumed after a watchdog release and the open episode's bike is still confirmed: hold the
        door again under the same alert (never after a max_hold_s release: that one is final)."""
        alert_id = self.rule.open_alert_id(elevator_id)
        if alert_id is None or not self.linkage.rehold_due(elevator_id, alert_id, time.time()):
            return
        log.warning("holding the door of elevator %s again (alert %s): judging resumed, the bike is still there",
                    elevator_id, alert_id)
        for command in hold_commands(alert_id, _at(ts), self.config.ebike.announce_text):
            self.linkage.send(elevator_id, command)
        self.stats.reholds += 1

    def _emit(self, decision: Decision, frame: Frame, image: np.ndarray, found: Detections) -> None:
        alerts = []
        raised: Alert | None = None
        for change in decision.changes:
            alert = self._episode_alert(change)
            if decision.snapshot and change.state == "active" and alert.id not in self._episodes:
                box = change.evidence.get("box")
                drawn = annotate(image, found, [tuple(box)] if box else ())
                jpeg = encode_snapshot(drawn, self.config.evidence.snapshot_max_side,
                                       self.config.evidence.snapshot_quality)
                alert = alert.model_copy(update={"snapshot_jpeg_b64": base64.b64encode(jpeg).decode()})
                raised = alert
                self.stats.raises += 1
            elif change.state == "cleared":
                self.stats.clears += 1
            self._remember(alert)
            alerts.append(alert)
        self._deliver(alerts)
        if raised is not None:
            latency = time.time() - frame.ts
            self.stats.last_raise_latency_ms = round(latency * 1e3, 1)
            self.timings.ebike_alert.observe(max(0.0, latency))
            self.clips.start(frame.elevator_id, raised.id, frame.ts)

    def _episode_alert(self, change: AlertChange) -> Alert:
        """The rule's change as an Alert, with what the edge added to its episode (clip, snapshot, revisions)."""
        alert = self._to_alert(change)
        episode = self._episodes.get(alert.id)
        if episode is None:
            return alert
        return alert.model_copy(update={
            "revision": (alert.revision or 0) + episode.bump,
            "evidence": {**alert.evidence, **episode.extra},
            "snapshot_jpeg_b64": episode.snapshot,
        })

    def _remember(self, alert: Alert) -> None:
        episode = self._episodes.get(alert.id)
        if episode is None:
            episode = self._episodes[alert.id] = _Episode(alert, snapshot=alert.snapshot_jpeg_b64)
        episode.last = alert
        self._episodes.move_to_end(alert.id)
        while len(self._episodes) > EPISODES_KEPT:
            self._episodes.popitem(last=False)

    def _evidence_round(self) -> None:
        """Alert first, evidence after: a finished clip goes out as an update of its episode."""
        if time.monotonic() - self._pruned > PRUNE_EVERY_S:
            self._pruned = time.monotonic()
            self.clips.prune(time.time())
        updates = []
        for clip in self.clips.take_finished():
            episode = self._episodes.get(clip.alert_id)
            if episode is None:
                continue
            episode.bump += 1
            episode.extra = {**episode.extra, "clip": str(clip.path), "clip_frames": clip.frames,
                             "clip_s": round(clip.end_ts - clip.start_ts, 1),
                             "clip_preview_jpeg_b64": list(clip.preview)}
            last = episode.last
            alert = last.model_copy(update={
                "revision": (last.revision or 0) + 1, "evidence": {**last.evidence, **episode.extra},
            })
            episode.last = alert
            updates.append(alert)
            self.stats.clip_updates += 1
        if updates:
            self._deliver(updates)

    def _to_alert(self, change: AlertChange) -> Alert:
        elevator = self.registry.elevator(change.subject)
        building, grid = self.registry.place(elevator.building if elevator else None)
        return change.to_alert(self.edge_id, building, grid)

    def _deliver(self, alerts: list[Alert]) -> None:
        self.open_episodes.record(alerts)  # first: a kill after it can only repeat a clear, never lose one
        added = self.outbox.append_now(alerts)
        self.stats.alert_changes += added
        for alert in alerts:
            log.info("alert %s %s %s %s: %s", alert.state, alert.severity, alert.type, alert.subject, alert.summary)
        self._wake_sender()

    # ---- watchdog thread ------------------------------------------------------------------------
    def _check_cameras(self, wall: float) -> None:
        changes = self.liveness.check(wall)
        if changes:
            self._deliver([self._to_alert(c) for c in changes])

    # ---- observability ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        wall = time.time()
        slots = {eid: slot.stats for eid, slot in list(self._slots.items())}
        cameras = self.liveness.states(wall)
        for eid, slot_stats in slots.items():
            judged = self._judged.get(eid)
            cameras.setdefault(eid, {}).update(
                frames=slot_stats.put, skipped=slot_stats.skipped,
                judged_ago_s=None if judged is None else round(wall - judged, 1),
            )
        return {
            "frames_in": s.frames_in,
            "statuses": s.statuses,
            "bad_ts": s.bad_ts,
            "judged": s.judged,
            "skipped": sum(x.skipped for x in slots.values()),
            "decode_errors": s.decode_errors,
            "internal_errors": s.internal_errors,
            "raises": s.raises,
            "clears": s.clears,
            "restart_clears": s.restart_clears,
            "reholds": s.reholds,
            "alert_changes": s.alert_changes,
            "clip_updates": s.clip_updates,
            "unsure_saved": s.unsure_saved,
            "empty_car_drops": s.empty_car_drops,
            "stage_ms_median": {k: _median(list(v)) for k, v in s.stage_ms.items()},
            "last_raise_latency_ms": s.last_raise_latency_ms,
            "cameras": cameras,
            "unregistered": {"judged": len(self._unregistered), "refused_frames": self.unregistered_refused,
                             "expired": self.unregistered_expired},
            "linkage": self.linkage.snapshot(),
            "sources": [src.stats() for src in self._sources],
        }


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 2) if values else None
