"""A small IoU tracker for the boxes of one camera: greedy matching, no motion model.

An elevator camera is fixed and a bike moves slowly between frames, so overlap with the last
box is enough to keep an id; greedy best-IoU-first matching gives the same answer as the
Hungarian method on such sparse scenes at a fraction of the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.vision.metrics import box_iou as iou_matrix  # one IoU for scoring and tracking

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels


@dataclass(frozen=True, slots=True)
class Detection:
    """One detector box; the detector's own output is adapted to this outside rules/."""

    box: Box
    score: float
    label: str


@dataclass(slots=True)
class Track:
    id: int
    box: Box  # the last matched box
    label: str
    hits: int = 1  # frames matched over the track's life
    missed: int = 0  # frames in a row without a match
    detection: Detection | None = None  # this frame's match, None when missed


class IouTracker:
    """Tracks of one camera; a box joins the live track of its label that it overlaps most."""

    def __init__(self, iou_min: float = 0.3, max_missed: int = 10) -> None:
        if not 0 < iou_min <= 1:
            raise ValueError("iou_min must be in (0, 1]")
        if max_missed < 0:
            raise ValueError("max_missed must be >= 0")
        self.iou_min = iou_min
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: list[Detection]) -> list[Track]:
        """Match one frame's detections; returns the live tracks (matched ones carry `detection`)."""
        for track in self.tracks:
            track.detection = None
        pairs = self._match(detections)
        matched_dets = set()
        for ti, di in pairs:
            track, det = self.tracks[ti], detections[di]
            track.box, track.detection, track.missed = det.box, det, 0
            track.hits += 1
            matched_dets.add(di)
        matched_tracks = {ti for ti, _ in pairs}
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for di, det in enumerate(detections):
            if di not in matched_dets:
                self.tracks.append(Track(self._next_id, det.box, det.label, detection=det))
                self._next_id += 1
        return list(self.tracks)

    def _match(self, detections: list[Detection]) -> list[tuple[int, int]]:
        if not self.tracks or not detections:
            return []
        iou = iou_matrix(
            np.array([t.box for t in self.tracks], dtype=np.float64),
            np.array([d.box for d in detections], dtype=np.float64),
        )
        same_label = np.array([[t.label == d.label for d in detections] for t in self.tracks])
        iou = np.where(same_label, iou, 0.0)
        pairs: list[tuple[int, int]] = []
        used_t: set[int] = set()
        used_d: set[int] = set()
        # Best overlap first; ties broken by order (stable sort) so a replay gives the same ids.
        for flat in np.argsort(-iou, axis=None, kind="stable"):
            ti, di = divmod(int(flat), len(detections))
            if iou[ti, di] < self.iou_min:
                break
            if ti in used_t or di in used_d:
                continue
            pairs.append((ti, di))
            used_t.add(ti)
            used_d.add(di)
        return pairs
