"""The IoU tracker: ids stay with their object, a lost track dies after max_missed frames."""

from __future__ import annotations

import numpy as np
import pytest

from rules.elevator.tracker import Detection, IouTracker, iou_matrix


def det(x: float, y: float, w: float = 100, h: float = 200, label: str = "ebike", score: float = 0.9) -> Detection:
    return Detection((x, y, x + w, y + h), score, label)


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], dtype=float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], dtype=float)
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0], [0.0, 0.0, 0.0]])


def test_ids_follow_two_objects_moving_slowly() -> None:
    tracker = IouTracker(iou_min=0.3, max_missed=3)
    first = tracker.update([det(100, 300), det(600, 300)])
    ids = [t.id for t in first]
    for step in range(1, 30):  # 10 px a frame towards each other, listed in swapped order
        tracks = tracker.update([det(600 - 10 * step, 300), det(100 + 10 * step, 300)])
        by_x = sorted(tracks, key=lambda t: t.box[0])
        if 100 + 10 * step < 600 - 10 * step - 100:  # while they do not overlap
            assert [t.id for t in by_x] == ids
    assert len({t.id for t in tracker.tracks}) == len(tracker.tracks)


def test_track_survives_max_missed_frames_then_dies() -> None:
    tracker = IouTracker(max_missed=3)
    (track,) = tracker.update([det(100, 100)])
    for missed in range(1, 4):
        (alive,) = tracker.update([])
        assert (alive.id, alive.missed, alive.detection) == (track.id, missed, None)
    assert tracker.update([]) == []
    (reborn,) = tracker.update([det(100, 100)])
    assert reborn.id != track.id


def test_gap_within_max_missed_keeps_the_id() -> None:
    tracker = IouTracker(max_missed=3)
    (track,) = tracker.update([det(100, 100)])
    tracker.update([])
    tracker.update([])
    (again,) = tracker.update([det(105, 100)])
    assert again.id == track.id and again.hits == 2 and again.detection is not None


@pytest.mark.parametrize(
    ("second", "same_track"),
    [
        (det(100, 100), True),
        (det(140, 100), True),  # IoU 0.43
        (det(170, 100), False),  # IoU 0.18: a different object
        (det(100, 100, label="person"), False),  # labels never mix
    ],
)
def test_matching_needs_overlap_and_the_same_label(second: Detection, same_track: bool) -> None:
    tracker = IouTracker(iou_min=0.3)
    (track,) = tracker.update([det(100, 100)])
    tracks = tracker.update([second])
    matched = [t for t in tracks if t.detection is not None]
    assert (matched[0].id == track.id) is same_track


def test_each_detection_joins_at_most_one_track() -> None:
    tracker = IouTracker()
    tracker.update([det(100, 100)])
    tracks = tracker.update([det(100, 100), det(110, 100)])
    assert len(tracks) == 2 and all(t.detection is not None for t in tracks)
