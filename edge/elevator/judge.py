"""One frame judged, the same way in the edge and in `gridwatch eval elevator`: detect, score, empty car, rule.

1. The detector's boxes (`found`), at the edge's box threshold.
2. Their scores made the rule's (models/vision/ebike_scorer.py): calibrated per class, e-bikes fused with the
   crop verifier when the model's decision card has one.
3. E-bike boxes whose pixels are the car's empty picture are dropped (models/vision/empty_car.py); the
   camera's reference learns from closed-door frames with nothing in them.
4. The e-bike rule decides over its tracks (rules/elevator/ebike.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ingest.wire.elevator import ElevatorStatus
from models.vision.detector import Detector
from models.vision.ebike_scorer import EbikeScorer
from models.vision.empty_car import EmptyCar, EmptyCarParams
from models.vision.types import Detections
from rules.elevator.ebike import Decision, EbikeRule
from rules.elevator.tracker import Detection


@dataclass(frozen=True)
class Judgement:
    found: Detections  # the detector's own boxes and scores (snapshots and unsure frames show these)
    detections: list[Detection]  # what the rule saw
    decision: Decision
    suppressed: int  # e-bike boxes dropped as the empty car


class FrameJudge:
    def __init__(self, detector: Detector, rule: EbikeRule, scorer: EbikeScorer | None = None,
                 empty_car: EmptyCarParams | None = None) -> None:
        self.detector = detector
        self.rule = rule
        self.scorer = scorer or EbikeScorer(None, None)
        self.empty_params = empty_car or EmptyCarParams()
        self.cars: dict[str, EmptyCar] = {}
        self._door_closed: dict[str, bool] = {}
        self.detect_s = 0.0  # the stages of the last judge(), for the edge's timings
        self.score_s = 0.0

    def forget(self, elevator_id: str) -> None:
        """Drop a camera's empty-car reference and door state (an id that expired)."""
        self.cars.pop(elevator_id, None)
        self._door_closed.pop(elevator_id, None)

    def on_status(self, elevator_id: str, status: ElevatorStatus) -> None:
        self.rule.on_status(elevator_id, status)
        self._door_closed[elevator_id] = status.door == "closed"

    def empty_car(self, elevator_id: str) -> EmptyCar:
        car = self.cars.get(elevator_id)
        if car is None:
            car = self.cars[elevator_id] = EmptyCar(self.empty_params)
        return car

    def judge(self, elevator_id: str, ts: datetime, image: np.ndarray) -> Judgement:
        started = time.perf_counter()
        found = self.detector.detect(image)
        detected = time.perf_counter()
        self.detect_s = detected - started
        scores = self.scorer.scores(image, found)
        self.score_s = time.perf_counter() - detected
        ebike_classes = self.rule.params.ebike_classes
        labels = found.labels()
        boxes = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in found.xyxy]
        car = self.empty_car(elevator_id)
        is_bike = [label in ebike_classes for label in labels]
        matched = car.matches(image, [b for b, bike in zip(boxes, is_bike, strict=True) if bike]) \
            if self.empty_params.enabled else []
        empty = iter(matched)
        detections, suppressed = [], 0
        for box, score, label, bike in zip(boxes, scores, labels, is_bike, strict=True):
            if bike and next(empty, False):
                suppressed += 1
                continue
            detections.append(Detection(box, float(score), label))
        decision = self.rule.on_frame(elevator_id, ts, detections, image.shape[:2])
        if self.empty_params.enabled:
            car.learn(image, ts.timestamp(), self._door_closed.get(elevator_id, False),
                      float(found.scores.max()) if len(found) else 0.0)
        return Judgement(found, detections, decision, suppressed)
