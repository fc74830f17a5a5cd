"""EbikeRule: an e-bike brought into an elevator car, decided over a track, not a frame. Pure: no I/O, no clock.

Per elevator a tracker follows the e-bike boxes. A track is *confirmed* in a frame when, in
that frame, it is matched and
- it was matched in >= min_seen_frames of its last window_frames frames,
- the median of those matched scores is >= score_threshold,
- its box covers >= min_area_share of the frame,
- its foot point is in the car's floor zone (zone.py), and
- it is *admitted* by the door: it was seen while the door was open or within door_grace_s
  of its closing (a bike being pushed in; or the car stopped at a floor with the bike inside).
  A box that appears while the door has been closed all along (a detector glitch on a poster,
  a bike hidden behind people until the door closed) is admitted only after it has met the
  other conditions without a break for closed_door_persist_s (0: never). An elevator whose
  box never reported a door state is judged on vision alone.
The first confirmed track raises `elevator.ebike` (one episode per elevator however many
bikes), asks to hold the door and announce, and marks the frame as the snapshot; the episode
is updated only when its evidence changes meaningfully, and cleared, with the door released,
after clear_after_frames frames without a confirmed bike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import median
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingest.wire.alert import AlertType, episode_id
from ingest.wire.elevator import ElevatorCommand, ElevatorStatus
from ingest.wire.timestamps import to_rfc3339
from models.vision.decision import DecisionCard, OperatingPoint
from rules.elevator.tracker import Detection, IouTracker, Track
from rules.elevator.zone import Zone
from rules.episode import AlertChange, EpisodeBook

EBIKE: AlertType = "elevator.ebike"
_LABEL = "ebike"  # the tracker's one label: every e-bike class is followed as one
DEFAULT_ANNOUNCEMENT = "电动车禁止进入电梯，请将电动车推出电梯"
DEFAULT_SCORE_THRESHOLD = 0.5  # a model without a decision card (uncalibrated scores)
DEFAULT_MIN_SEEN = 5


class EbikeParams(BaseModel):
    """Parameters of the e-bike rule; frame counts assume the detector judges a few frames a second."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ebike_classes: tuple[str, ...] = Field(("ebike",), min_length=1, description="detector labels that are e-bikes")
    window_frames: int = Field(10, ge=1, le=300, description="K: the frames of a track's score history")
    operating_point: OperatingPoint | None = Field(
        None, description="the thresholds the model's decision card chose on val for this point (strict: no false "
        "hold on val scenes; balanced: more recall for a few); None: the card's default point"
    )
    min_seen_frames: int | None = Field(
        None, ge=1, le=300, description="M: matched in at least this many of the last K (set: overrides the point)"
    )
    score_threshold: float | None = Field(
        None, gt=0, le=1, description="median of the matched (calibrated) scores of the last K (set: overrides the "
        "point)"
    )
    min_area_share: float = Field(0.02, ge=0, le=1, description="box area over frame area; smaller is far or wrong")
    door_grace_s: float = Field(10.0, ge=0, le=600, description="a track seen this long after the door closed counts")
    closed_door_persist_s: float = Field(
        30.0, ge=0, le=3600, description="a track never seen with the door open counts after this long; 0: never"
    )
    clear_after_frames: int = Field(25, ge=1, le=100_000, description="frames without a confirmed bike to clear")
    iou_match: float = Field(0.3, gt=0, le=1, description="tracker: least overlap to continue a track")
    max_missed: int = Field(10, ge=0, le=10_000, description="tracker: frames a track survives unmatched")
    update_score_delta: float = Field(0.1, gt=0, le=1, description="median score move that updates the alert")
    update_iou_below: float = Field(
        0.5, ge=0, le=1, description="the bike moved: overlap with the last sent box (of the smaller) below this"
    )
    announce_text: str = Field(DEFAULT_ANNOUNCEMENT, min_length=1, max_length=500, description="played in the car")

    @model_validator(mode="after")
    def _m_within_k(self) -> EbikeParams:
        if self.min_seen_frames is not None and self.min_seen_frames > self.window_frames:
            raise ValueError("min_seen_frames must not exceed window_frames")
        return self

    def resolved(self, card: DecisionCard | None = None) -> EbikeParams:
        """Concrete thresholds: what is set here, else the operating point of the model's card, else defaults."""
        point = None
        if card is not None and card.operating_points:
            name = self.operating_point or card.default_point
            point = card.operating_points.get(name)
            if point is None:
                raise ValueError(f"operating point {name!r} is not in the model's decision card "
                                 f"(it has {sorted(card.operating_points)})")
        elif self.operating_point is not None:
            raise ValueError(f"operating point {self.operating_point!r} needs a model with a decision card")
        threshold = self.score_threshold if self.score_threshold is not None else (
            point.score_threshold if point else DEFAULT_SCORE_THRESHOLD)
        seen = self.min_seen_frames if self.min_seen_frames is not None else (
            point.min_seen_frames if point else DEFAULT_MIN_SEEN)
        return self.model_copy(update={"score_threshold": threshold, "min_seen_frames": min(seen, self.window_frames)})


@dataclass(frozen=True, slots=True)
class Decision:
    changes: list[AlertChange] = field(default_factory=list)
    commands: list[ElevatorCommand] = field(default_factory=list)
    confirmed: tuple[int, ...] = ()  # track ids confirmed as e-bikes in this frame
    snapshot: bool = False  # this frame raised the alert: send it as the snapshot


@dataclass(slots=True)
class _History:
    scores: deque[float | None]  # last K frames; None where the track was not matched
    first_seen: float
    door_seen: bool = False
    qualified_since: float | None = None


@dataclass(slots=True)
class _Car:
    tracker: IouTracker
    history: dict[int, _History] = field(default_factory=dict)
    door: str | None = None  # None: no status yet
    door_ts: float | None = None
    last_ts: float | None = None
    frames_without: int = 0
    sent: dict[str, Any] | None = None  # evidence of the last change that went out


def _epoch(moment: datetime) -> float:
    return round(moment.timestamp(), 3)  # the alert JSON's precision: an episode id survives a round trip


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class EbikeRule:
    def __init__(self, params: EbikeParams | None = None, zones: Mapping[str, Zone] | None = None) -> None:
        params = params or EbikeParams()
        # Unresolved thresholds (no card given) fall back to the defaults: the rule needs numbers.
        self.params = params if params.score_threshold is not None and params.min_seen_frames is not None \
            else params.resolved(None)
        self._zones = dict(zones or {})
        self._cars: dict[str, _Car] = {}
        self._book = EpisodeBook()

    def forget(self, elevator_id: str) -> bool:
        """Drop a car's track and history (a camera nobody registered went away); never one with an open episode."""
        if self.is_open(elevator_id):
            return False
        self._cars.pop(elevator_id, None)
        return True

    def set_zone(self, elevator_id: str, zone: Zone) -> None:
        self._zones[elevator_id] = zone

    def is_open(self, elevator_id: str) -> bool:
        return self._book.is_open(EBIKE, elevator_id)

    def open_alert_id(self, elevator_id: str) -> str | None:
        """The id of the car's open e-bike episode, if one is open."""
        start = self._book.started_at(EBIKE, elevator_id)
        return None if start is None else episode_id(EBIKE, elevator_id, start)

    def on_status(self, elevator_id: str, status: ElevatorStatus) -> None:
        car = self._car(elevator_id)
        ts = _epoch(status.ts)
        if car.door_ts is not None and ts < car.door_ts:
            return  # a late status says nothing about the door now
        car.door, car.door_ts = status.door, ts

    def on_frame(
        self, elevator_id: str, ts: datetime, detections: Sequence[Detection], frame_hw: tuple[int, int]
    ) -> Decision:
        p = self.params
        if frame_hw[0] <= 0 or frame_hw[1] <= 0:
            raise ValueError(f"frame_hw must be positive, got {frame_hw}")
        car = self._car(elevator_id)
        now = _epoch(ts)
        if car.last_ts is not None and now < car.last_ts:
            return Decision()  # out of order: the tracker only goes forward
        car.last_ts = now
        bikes = [Detection(d.box, d.score, _LABEL) for d in detections if d.label in p.ebike_classes]
        tracks = car.tracker.update(bikes)
        car.history = {t.id: car.history[t.id] for t in tracks if t.id in car.history}
        door_window = self._door_window(car, now)
        zone = self._zones.get(elevator_id, Zone())
        confirmed: list[tuple[Track, _History, str]] = []
        for track in tracks:
            hist = car.history.get(track.id)
            if hist is None:
                hist = car.history[track.id] = _History(deque(maxlen=p.window_frames), now)
            hist.scores.append(track.detection.score if track.detection else None)
            if track.detection is None:
                continue
            hist.door_seen = hist.door_seen or door_window
            if not self._qualifies(track, hist, zone, frame_hw):
                hist.qualified_since = None
                continue
            if hist.qualified_since is None:
                hist.qualified_since = now
            if hist.door_seen:
                confirmed.append((track, hist, "door"))
            elif p.closed_door_persist_s > 0 and now - hist.qualified_since >= p.closed_door_persist_s:
                confirmed.append((track, hist, "persistence"))
        car.frames_without = 0 if confirmed else car.frames_without + 1
        ids = tuple(t.id for t, _, _ in confirmed)
        if confirmed:
            return self._raise_or_update(elevator_id, car, now, confirmed, frame_hw, ids)
        if self._book.is_open(EBIKE, elevator_id) and car.frames_without >= p.clear_after_frames:
            return self._clear(elevator_id, car, now)
        return Decision(confirmed=ids)

    # -- decisions --------------------------------------------------------------------------
    def _qualifies(self, track: Track, hist: _History, zone: Zone, frame_hw: tuple[int, int]) -> bool:
        p = self.params
        scores = [s for s in hist.scores if s is not None]
        if len(scores) < p.min_seen_frames or median(scores) < p.score_threshold:
            return False
        x1, y1, x2, y2 = track.box
        h, w = frame_hw
        if max(x2 - x1, 0) * max(y2 - y1, 0) < p.min_area_share * h * w:
            return False
        return zone.contains_box(track.box, frame_hw)

    def _door_window(self, car: _Car, now: float) -> bool:
        if car.door is None or car.door == "open":
            return True  # no status box: vision alone decides
        assert car.door_ts is not None
        return now - car.door_ts <= self.params.door_grace_s

    def _raise_or_update(
        self, eid: str, car: _Car, now: float, confirmed: list[tuple[Track, _History, str]],
        frame_hw: tuple[int, int], ids: tuple[int, ...],
    ) -> Decision:
        track, hist, by = max(confirmed, key=lambda c: (_median(c[1]), -c[0].id))
        bikes = distinct_count([t.box for t, _, _ in confirmed])
        evidence = {
            "track_id": track.id,
            "median_score": round(_median(hist), 3),
            "frames_seen": sum(s is not None for s in hist.scores),
            "window_frames": self.params.window_frames,
            "box": [round(v, 1) for v in track.box],
            "frame_hw": list(frame_hw),
            "bikes": bikes,
            "first_seen": to_rfc3339(_at(hist.first_seen)),
            "frame_ts": to_rfc3339(_at(now)),
            "door": car.door or "unknown",
            "admitted_by": by,
        }
        summary = (
            f"电梯 {eid} 轿厢内发现电动车（{bikes} 辆），已保持开门并语音劝离 / "
            f"E-bike in elevator {eid} ({bikes}): door held, announcement playing"
        )
        if not self._book.is_open(EBIKE, eid):
            change = self._book.raise_or_update(EBIKE, eid, "critical", _at(now), _at(now), summary, evidence)
            assert change is not None
            car.sent = evidence
            commands = hold_commands(change.id, _at(now), self.params.announce_text)
            return Decision([change], commands, ids, snapshot=True)
        if car.sent is not None and not self._meaningful(car.sent, evidence):
            return Decision(confirmed=ids)
        start = self._book.started_at(EBIKE, eid)
        assert start is not None
        change = self._book.raise_or_update(
            EBIKE, eid, "critical", start, _at(now), summary, evidence, update_evidence=True
        )
        car.sent = evidence
        return Decision([change] if change else [], [], ids)

    def _meaningful(self, sent: dict[str, Any], new: dict[str, Any]) -> bool:
        """More bikes than last said, the score moved, or the leading bike moved: worth an update.

        Not a change of the leading track or one bike fewer: a bike boxed twice makes tracks come and go and
        the lead swap every few frames, and a grid worker's phone must not buzz for that. One fewer is told by
        the clear when none is left."""
        if new["bikes"] > sent["bikes"]:
            return True
        if abs(sent["median_score"] - new["median_score"]) >= self.params.update_score_delta:
            return True
        # Overlap as intersection over the smaller box: the whole bike and its front half are the same place.
        return _cover(tuple(sent["box"]), tuple(new["box"])) < self.params.update_iou_below

    def _clear(self, eid: str, car: _Car, now: float) -> Decision:
        summary = f"电梯 {eid} 电动车已离开，已恢复关门 / E-bike gone from elevator {eid}: door released"
        change = self._book.clear(
            EBIKE, eid, _at(now), summary, {"cleared_by": "bike_gone", "frames_without_bike": car.frames_without}
        )
        car.sent = None
        assert change is not None
        command = ElevatorCommand(action="release_door", alert_id=change.id, ts=_at(now))
        return Decision([change], [command])

    def _car(self, eid: str) -> _Car:
        car = self._cars.get(eid)
        if car is None:
            p = self.params
            car = self._cars[eid] = _Car(IouTracker(p.iou_match, p.max_missed))
        return car


def hold_commands(alert_id: str, at: datetime, announce_text: str) -> list[ElevatorCommand]:
    """Hold the door, then tell the rider why: on a raise, and again when the edge re-holds a released door."""
    return [
        ElevatorCommand(action="hold_door", alert_id=alert_id, ts=at),
        ElevatorCommand(action="announce", alert_id=alert_id, text=announce_text, ts=at),
    ]


def distinct_count(boxes: Sequence[tuple[float, float, float, float]], overlap: float = 0.5) -> int:
    """Bikes, not boxes: a detector may box one bike twice (whole and front half) past NMS. Boxes that cover
    more than `overlap` of the smaller one are counted once (greedy, largest first)."""
    kept: list[tuple[float, float, float, float]] = []
    for box in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        if all(_cover(box, other) <= overlap for other in kept):
            kept.append(box)
    return len(kept)


def _cover(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller if smaller > 0 else 0.0


def _median(hist: _History) -> float:
    return median(s for s in hist.scores if s is not None)
