"""The edge's ONNX Runtime detector and ultralytics agree on the bundled model and the same images.

Our letterbox, decode and NMS stand in for ultralytics' at the edge; if they drift (padding, colour order,
scaling, class offsets), these boxes part ways. Two comparisons:
- the same ONNX file through both: same input, so boxes agree to a pixel and scores to 1e-3;
- the .pt it was exported from, through ultralytics and torch, on frames already at the model's 192x320 (else
  ultralytics pads a .pt's input only to the stride, a different input): the export kept the weights.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.vision.letterbox import letterbox
from models.vision.metrics import box_iou
from models.vision.model_file import DEFAULT_EBIKE_MODEL, load_detector
from models.vision.types import Detections
from models.vision.ultralytics_detector import UltralyticsDetector

IMAGES = ("Snipaste_2024-01-01_12-07-27.png", "Snipaste_2024-01-02_10-34-10.png", "Snipaste_2024-01-01_12-09-56.png")


def _pairs(a: Detections, b: Detections, min_score: float) -> list[tuple[int, int, float]]:
    """For each box of `a` scored >= min_score: the best same-class box of `b` and their IoU."""
    out = []
    ious = box_iou(a.xyxy, b.xyxy)
    for i in np.where(a.scores >= min_score)[0]:
        same = np.where(b.class_ids == a.class_ids[i])[0]
        assert same.size, f"{a.labels()[i]} {a.scores[i]:.2f} has no counterpart"
        j = same[np.argmax(ious[i, same])]
        out.append((int(i), int(j), float(ious[i, j])))
    return out


@pytest.fixture
def frames(shared_dir: Path) -> list[np.ndarray]:
    return [cv2.imread(str(shared_dir / "data/vision/ebike-elevator/originals" / name)) for name in IMAGES]


def test_same_onnx_through_both_backends(yolo_env: Path, frames: list[np.ndarray]) -> None:
    ours = load_detector(DEFAULT_EBIKE_MODEL, conf=0.1)
    theirs = UltralyticsDetector(DEFAULT_EBIKE_MODEL, input_hw=(192, 320), conf=0.1)
    assert theirs.class_names == ours.class_names == ("ebike", "person")
    compared = 0
    for image in frames:
        a, b = ours.detect(image), theirs.detect(image)
        for first, second in ((a, b), (b, a)):
            for i, j, iou in _pairs(first, second, 0.2):
                assert iou > 0.98 and abs(first.scores[i] - second.scores[j]) < 2e-3
                compared += 1
    assert compared >= 4  # the model finds things on these frames: the comparison is not empty


def test_exported_onnx_matches_the_pytorch_weights(yolo_env: Path, frames: list[np.ndarray]) -> None:
    ours = load_detector(DEFAULT_EBIKE_MODEL, conf=0.1)
    theirs = UltralyticsDetector(DEFAULT_EBIKE_MODEL.with_suffix(".pt"), input_hw=(192, 320), conf=0.1)
    compared = 0
    for frame in frames:
        image, _ = letterbox(frame, (192, 320), center=True)
        a, b = ours.detect(image), theirs.detect(image)
        for first, second in ((a, b), (b, a)):
            for i, j, iou in _pairs(first, second, 0.2):
                assert iou > 0.97 and abs(first.scores[i] - second.scores[j]) < 5e-3
                compared += 1
    assert compared >= 4
