"""IoU and class-aware NMS by table."""

from __future__ import annotations

import numpy as np
import pytest

from models.vision.nms import batched_nms, iou, nms

IOU_CASES = [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
    ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
    ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),  # contained
    ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate: no division by zero
]


@pytest.mark.parametrize(("a", "b", "expected"), IOU_CASES)
def test_iou(a, b, expected) -> None:
    assert iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)
    assert iou(np.array([b]), np.array([a]))[0, 0] == pytest.approx(expected)  # symmetric


def test_iou_is_pairwise() -> None:
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10]])
    m = iou(a, np.array([[0, 0, 10, 10], [100, 100, 110, 110], [5, 0, 15, 10]]))
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m, [[1, 0, 1 / 3], [1 / 3, 0, 1]], atol=1e-6)


# (boxes, scores, class ids, iou threshold, kept indices in score order)
NMS_CASES = [
    ([], [], [], 0.45, []),
    ([[0, 0, 10, 10]], [0.9], [0], 0.45, [0]),
    ([[0, 0, 10, 10], [1, 0, 11, 10]], [0.8, 0.9], [0, 0], 0.45, [1]),  # overlap 0.82: lower score dropped
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], [0, 0], 0.45, [0, 1]),  # overlap 0.33: both kept
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], [0, 0], 0.3, [0]),  # stricter threshold drops it
    ([[0, 0, 10, 10], [1, 0, 11, 10]], [0.9, 0.8], [0, 3], 0.45, [0, 1]),  # other class: a rider on a bike
    # chain: A suppresses B, B would have suppressed C but is gone, C does not overlap A enough
    ([[0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]], [0.9, 0.8, 0.7], [0, 0, 0], 0.45, [0, 2]),
    ([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], [0.5, 0.5, 0.6], [1, 1, 1], 0.45, [2, 0]),  # tie: first
]


@pytest.mark.parametrize(("boxes", "scores", "classes", "thr", "kept"), NMS_CASES)
def test_batched_nms(boxes, scores, classes, thr, kept) -> None:
    out = batched_nms(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores), np.array(classes), thr)
    assert out.tolist() == kept


def test_class_blind_nms_suppresses_across_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], np.float32)
    assert nms(boxes, np.array([0.9, 0.8]), 0.45).tolist() == [0]
