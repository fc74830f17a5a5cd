"""Score a detector on labelled images, as the edge runs it: precision, recall and AP50 per class, mAP50."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from models.training.dataset import LabelledImage
from models.training.scenes import held_out_originals
from models.vision.detector import Detector
from models.vision.metrics import DetectionScorer, read_yolo_labels


@dataclass(frozen=True)
class EvalReport:
    images: int
    conf: float
    classes: dict[str, dict[str, float | int]]
    ms_per_image: float

    def lines(self) -> list[str]:
        out = [f"{'class':<8} {'labels':>6} {'P':>6} {'R':>6} {'AP50':>6}   (P and R at conf {self.conf:g})"]
        for name, row in self.classes.items():
            if name == "all":
                continue
            out.append(f"{name:<8} {row['labels']:>6} {row['precision']:>6.3f} {row['recall']:>6.3f} "
                       f"{row['ap50']:>6.3f}")
        out.append(f"mAP50 {self.classes['all']['map50']:.3f} over {self.images} images, "
                   f"{self.ms_per_image:.1f} ms per image")
        return out


def held_out(images: list[LabelledImage], split_file: Path, *, originals_only: bool = True) -> list[LabelledImage]:
    """The images of the originals a model never saw in training (split_file's `val_originals`)."""
    val = set(held_out_originals(split_file))
    chosen = [i for i in images if i.original in val and (i.is_original or not originals_only)]
    if not chosen:
        raise ValueError(f"none of the images belongs to the held-out originals of {split_file}")
    return chosen


def evaluate(detector: Detector, images: list[LabelledImage], *, conf: float = 0.25) -> EvalReport:
    """Run `detector` (built with a low conf so AP sees the whole curve) on each image and score it."""
    scorer = DetectionScorer(detector.class_names)
    spent = 0.0
    for item in images:
        image = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read {item.image}")
        started = time.perf_counter()
        detections = detector.detect(image)
        spent += time.perf_counter() - started
        label_ids, label_boxes = read_yolo_labels(item.label, image.shape[:2])
        scorer.add(detections, label_ids, label_boxes)
    return EvalReport(len(images), conf, scorer.summary(conf), 1000 * spent / max(len(images), 1))
