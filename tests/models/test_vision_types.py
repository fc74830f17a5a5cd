"""Detections is validated on construction and filters by class and score."""

from __future__ import annotations

import numpy as np
import pytest

from models.vision.types import Detections

NAMES = ("ebike", "person")


def _dets() -> Detections:
    return Detections(
        xyxy=[[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4]], scores=[0.9, 0.4, 0.7], class_ids=[0, 1, 1],
        class_names=NAMES,
    )


def test_normalises_types_and_freezes() -> None:
    d = _dets()
    assert d.xyxy.dtype == np.float32 and d.scores.dtype == np.float32 and d.class_ids.dtype == np.int64
    assert len(d) == 3
    assert d.labels() == ["ebike", "person", "person"]
    with pytest.raises(ValueError):
        d.xyxy[0, 0] = 1.0  # read-only: one rule cannot change what another sees
    with pytest.raises(AttributeError):
        d.scores = np.zeros(3)  # type: ignore[misc]


def test_filters() -> None:
    d = _dets()
    assert d.with_classes("person").scores.tolist() == pytest.approx([0.4, 0.7])
    assert len(d.with_classes("ebike", "person")) == 3
    assert d.above(0.5).class_ids.tolist() == [0, 1]
    assert len(d.above(0.95)) == 0
    with pytest.raises(KeyError, match="bicycle"):
        d.with_classes("bicycle")


def test_empty() -> None:
    d = Detections.empty(NAMES)
    assert len(d) == 0 and d.xyxy.shape == (0, 4)
    assert len(Detections([], [], [], NAMES).with_classes("person")) == 0


@pytest.mark.parametrize(
    ("xyxy", "scores", "class_ids", "match"),
    [
        ([[0, 0, 1]], [0.5], [0], "xyxy"),
        ([[0, 0, 1, 1]], [0.5, 0.6], [0], "scores"),
        ([[0, 0, 1, 1]], [0.5], [0, 1], "class_ids"),
        ([[0, 0, 1, 1]], [0.5], [2], "class_ids must be in"),
        ([[0, 0, 1, 1]], [0.5], [-1], "class_ids must be in"),
        ([[0, 0, 1, 1]], [0.5], [0.5], "integers"),
        ([[5, 0, 1, 1]], [0.5], [0], "x2 >= x1"),
        ([[0, 0, np.nan, 1]], [0.5], [0], "finite"),
    ],
)
def test_invalid_is_refused(xyxy, scores, class_ids, match) -> None:
    with pytest.raises(ValueError, match=match):
        Detections(xyxy, scores, class_ids, NAMES)
