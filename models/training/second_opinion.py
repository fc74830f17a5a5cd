"""Does the COCO detector (YOLOX-Nano: bicycle, motorcycle) help the e-bike model? Measured, not assumed.

Three ways to use it, scored on the same held-out originals at the same threshold:
- alone: our model's e-bike boxes;
- union: ours plus YOLOX's bicycle/motorcycle boxes (more recall, if YOLOX finds bikes ours misses);
- confirm: ours only where YOLOX also sees a bicycle/motorcycle (fewer false boxes, if ours invents bikes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.training.dataset import LabelledImage
from models.vision.coco import COCO80
from models.vision.detector import Detector
from models.vision.metrics import DetectionScorer, box_iou, read_yolo_labels
from models.vision.onnx_detector import OnnxDetector
from models.vision.types import Detections

COCO_BIKES = ("bicycle", "motorcycle")
CONFIRM_IOU = 0.3


@dataclass(frozen=True)
class OpinionRow:
    way: str
    precision: float
    recall: float
    ap50: float


def _as_ebike(coco: Detections, names: tuple[str, ...], ebike_id: int) -> Detections:
    bikes = coco.with_classes(*COCO_BIKES)
    return Detections(bikes.xyxy, bikes.scores, np.full(len(bikes), ebike_id), names)


def _only_ebikes(dets: Detections, ebike_id: int) -> Detections:
    keep = dets.class_ids == ebike_id
    return Detections(dets.xyxy[keep], dets.scores[keep], dets.class_ids[keep], dets.class_names)


def compare(ours: Detector, yolox_path: Path, images: list[LabelledImage], *, conf: float,
            coco_conf: float = 0.05) -> list[OpinionRow]:
    names = ours.class_names
    ebike_id = names.index("ebike")
    coco = OnnxDetector(yolox_path, kind="yolox", class_names=COCO80, conf=coco_conf)
    scorers = {way: DetectionScorer(names) for way in ("alone", "union", "confirm", "yolox only")}
    for item in images:
        image = cv2.imread(str(item.image))
        label_ids, label_boxes = read_yolo_labels(item.label, image.shape[:2])
        mine = _only_ebikes(ours.detect(image), ebike_id)
        theirs = _as_ebike(coco.detect(image), names, ebike_id)
        union = Detections(np.concatenate([mine.xyxy, theirs.xyxy]), np.concatenate([mine.scores, theirs.scores]),
                           np.concatenate([mine.class_ids, theirs.class_ids]), names)
        backed = (box_iou(mine.xyxy, theirs.xyxy) >= CONFIRM_IOU).any(axis=1) if len(theirs) else \
            np.zeros(len(mine), bool)
        confirmed = Detections(mine.xyxy[backed], mine.scores[backed], mine.class_ids[backed], names)
        for way, dets in (("alone", mine), ("union", union), ("confirm", confirmed), ("yolox only", theirs)):
            scorers[way].add(dets, label_ids, label_boxes)
    rows = []
    for way, scorer in scorers.items():
        row = scorer.summary(conf)["ebike"]
        rows.append(OpinionRow(way, float(row["precision"]), float(row["recall"]), float(row["ap50"])))
    return rows
