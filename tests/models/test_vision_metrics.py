"""Precision, recall and AP50 on hand-made cases whose answers can be worked out on paper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.vision.metrics import DetectionScorer, box_iou, read_yolo_labels
from models.vision.types import Detections

NAMES = ("ebike", "person")


def _dets(rows: list[tuple[int, float, list[float]]]) -> Detections:
    if not rows:
        return Detections.empty(NAMES)
    return Detections(np.array([r[2] for r in rows], np.float32), np.array([r[1] for r in rows], np.float32),
                      np.array([r[0] for r in rows]), NAMES)


def test_yolo_labels_to_pixels(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2")
    ids, boxes = read_yolo_labels(label, (100, 200))
    assert ids.tolist() == [0, 1]
    np.testing.assert_allclose(boxes, [[80, 30, 120, 70], [0, 0, 40, 20]], atol=1e-4)
    assert read_yolo_labels(tmp_path / "missing.txt", (10, 10))[0].size == 0


def test_iou() -> None:
    iou = box_iou(np.array([[0, 0, 10, 10]], np.float32), np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32))
    np.testing.assert_allclose(iou, [[50 / 150, 0.0]], atol=1e-6)


def test_perfect_detector_scores_one() -> None:
    scorer = DetectionScorer(NAMES)
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)
    scorer.add(_dets([(0, 0.9, [0, 0, 10, 10]), (1, 0.8, [20, 20, 40, 40])]), np.array([0, 1]), boxes)
    summary = scorer.summary(0.25)
    assert summary["ebike"] == {"labels": 1, "precision": 1.0, "recall": 1.0, "ap50": 1.0}
    assert summary["all"]["map50"] == 1.0


def test_ranked_false_positive_halves_precision_and_lowers_ap() -> None:
    # Two bikes; detections ranked: miss (0.9), hit (0.8), duplicate of that hit (0.7), hit (0.6).
    scorer = DetectionScorer(NAMES)
    truth = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scorer.add(_dets([(0, 0.9, [100, 100, 110, 110]), (0, 0.8, [0, 0, 10, 10]), (0, 0.7, [0, 0, 10, 11]),
                      (0, 0.6, [50, 50, 60, 60])]), np.array([0, 0]), truth)
    row = scorer.summary(0.5)["ebike"]
    assert (row["precision"], row["recall"]) == (0.5, 1.0)  # the duplicate counts false: a label matches once
    # Envelope: recall 0.5 at precision max(1/2, 2/4) = 0.5, recall 1.0 at 2/4 -> AP = 0.5*0.5 + 0.5*0.5.
    assert row["ap50"] == pytest.approx(0.5)
    assert scorer.summary(0.85)["ebike"]["recall"] == 0.0


def test_wrong_class_is_no_hit_and_no_labels_is_no_ap() -> None:
    scorer = DetectionScorer(NAMES)
    scorer.add(_dets([(1, 0.9, [0, 0, 10, 10])]), np.array([0]), np.array([[0, 0, 10, 10]], np.float32))
    summary = scorer.summary(0.25)
    assert summary["ebike"]["recall"] == 0.0 and summary["ebike"]["ap50"] == 0.0
    assert summary["person"]["precision"] == 0.0 and np.isnan(summary["person"]["ap50"])
    assert summary["all"]["map50"] == 0.0  # classes without labels do not count in the mean
