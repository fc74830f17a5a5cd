"""Detection quality on labelled images: precision, recall and AP at IoU 0.5 per class, in numpy.

Scores the model exactly as the edge runs it (ONNX Runtime, our letterbox and NMS), so `gridwatch model eval`
needs no torch. AP is the area under the precision envelope over all recall points (COCO/VOC-2010 style, as
ultralytics computes mAP50, without its 101-point sampling), so the two differ in the second decimal at most.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.vision.types import Detections

IOU_MATCH = 0.5


def read_yolo_labels(label: Path | None, image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A YOLO label file -> (class ids (N,), boxes (N, 4) xyxy in pixels); no file: no objects."""
    if label is None or not label.is_file():
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    rows = [line.split() for line in label.read_text().splitlines() if line.strip()]
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    values = np.array([[float(v) for v in row[:5]] for row in rows], dtype=np.float64)
    h, w = image_hw
    cx, cy, bw, bh = values[:, 1] * w, values[:, 2] * h, values[:, 3] * w, values[:, 4] * h
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    return values[:, 0].astype(np.int64), boxes


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class ClassScore:
    name: str
    labels: int = 0
    scores: list[float] = field(default_factory=list)  # every detection of this class
    hits: list[bool] = field(default_factory=list)  # whether it matched an unmatched label at IoU >= 0.5

    def at(self, conf: float) -> tuple[float, float]:
        """(precision, recall) counting only detections scored >= conf."""
        kept = [h for s, h in zip(self.scores, self.hits, strict=True) if s >= conf]
        tp = sum(kept)
        precision = tp / len(kept) if kept else (1.0 if self.labels == 0 else 0.0)
        return precision, (tp / self.labels if self.labels else 1.0)

    def ap50(self) -> float:
        if self.labels == 0:
            return float("nan")
        order = np.argsort(-np.asarray(self.scores, dtype=np.float64), kind="stable")
        hits = np.asarray(self.hits, dtype=np.float64)[order]
        tp = np.cumsum(hits)
        recall = np.concatenate([[0.0], tp / self.labels, [1.0]])
        precision = np.concatenate([[1.0], tp / np.maximum(np.arange(1, len(hits) + 1), 1), [0.0]])
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope
        steps = np.where(recall[1:] != recall[:-1])[0]
        return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


class DetectionScorer:
    """Feed (detections, labels) per image; read precision, recall and AP50 per class."""

    def __init__(self, class_names: tuple[str, ...]) -> None:
        self.class_names = class_names
        self.classes = {i: ClassScore(name) for i, name in enumerate(class_names)}
        self.images = 0
        self.false_by_image: dict[int, int] = defaultdict(int)

    def add(self, detections: Detections, label_ids: np.ndarray, label_boxes: np.ndarray) -> None:
        self.images += 1
        for cid, score in self.classes.items():
            truth = label_boxes[label_ids == cid]
            score.labels += len(truth)
            mine = detections.class_ids == cid
            boxes, confs = detections.xyxy[mine], detections.scores[mine]
            order = np.argsort(-confs, kind="stable")
            ious = box_iou(boxes[order], truth)
            taken = np.zeros(len(truth), bool)
            for row, i in enumerate(order):
                hit = False
                if len(truth):
                    candidates = np.where(~taken & (ious[row] >= IOU_MATCH))[0]
                    if candidates.size:
                        best = candidates[np.argmax(ious[row, candidates])]
                        taken[best] = hit = True
                score.scores.append(float(confs[i]))
                score.hits.append(hit)

    def summary(self, conf: float) -> dict[str, dict[str, float | int]]:
        out: dict[str, dict[str, float | int]] = {}
        for score in self.classes.values():
            precision, recall = score.at(conf)
            out[score.name] = {"labels": score.labels, "precision": round(precision, 3),
                               "recall": round(recall, 3), "ap50": round(score.ap50(), 3)}
        aps = [v["ap50"] for v in out.values() if v["labels"]]
        out["all"] = {"labels": sum(s.labels for s in self.classes.values()),
                      "map50": round(float(np.mean(aps)), 3) if aps else float("nan")}
        return out
