"""The empty car, per camera: a box whose pixels are the empty car's is not an object, whatever the detector says.

Elevator cameras are fixed, and most of the day they see the same empty car. Each camera keeps a small grey
picture of it (1/8 of the frame, blurred), learnt from frames with the door closed and nothing detected at all
(no box of any class above `quiet_score`), refreshed slowly (`alpha` per learning frame, at most one every
`learn_every_s` of event time). Once `ready_frames` such frames were seen, a candidate box is dropped when its
region matches the reference: zero-mean normalised cross-correlation >= `match_ncc` (a gain-free comparison:
the lamp dimming or the camera's auto-exposure leaves it unchanged) and the mean absolute difference after
matching gain and offset <= `match_mad` grey levels (a flat region correlates poorly but differs little).

- A poster, a reflection, a panel the detector takes for a bike is in the reference: never held for.
- A bike is not: it changes the pixels of its box, so its box never matches.
- Light changes: the comparison removes gain and offset; a change of light colour or a new lamp that changes
  the whole picture shows up as a global mismatch, handled like a move.
- The camera moved (or the car was refitted): learning frames no longer match the reference as a whole
  (NCC < `moved_ncc`) several times in a row; the reference is dropped and learnt again, and until it is ready
  nothing is suppressed. The check fails safe: with no reference, every box goes to the rule.
Pure numpy and OpenCV, no I/O; the pipeline keeps one per camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Box = tuple[float, float, float, float]


class EmptyCarParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    scale: int = Field(8, ge=2, le=32, description="the reference is the frame shrunk by this factor")
    alpha: float = Field(0.05, gt=0, le=1, description="weight of a new learning frame in the reference")
    learn_every_s: float = Field(2.0, ge=0, description="at most one learning frame this often (event time)")
    ready_frames: int = Field(10, ge=1, description="learning frames before the reference is used")
    quiet_score: float = Field(0.1, ge=0, le=1, description="a frame with any box scored above this teaches nothing")
    match_ncc: float = Field(0.9, ge=0, le=1, description="a box region this correlated with the reference ...")
    match_mad: float = Field(12.0, ge=0, le=255, description="... and this close in grey levels is the empty car")
    moved_ncc: float = Field(0.6, ge=-1, le=1, description="a learning frame this unlike the reference: moved?")
    moved_frames: int = Field(3, ge=1, description="so many unlike learning frames in a row drop the reference")
    min_cells: int = Field(16, ge=1, description="a box covering fewer reference cells is never judged")


def _small(image_bgr: np.ndarray, scale: int) -> np.ndarray:
    h, w = image_bgr.shape[:2]
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr
    small = cv2.resize(grey, (max(w // scale, 1), max(h // scale, 1)), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small.astype(np.float32), (3, 3), 0)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 1.0  # two flat regions are alike


def _mad_after_gain(region: np.ndarray, ref: np.ndarray) -> float:
    """Mean |region - (g*ref + o)| with the least-squares gain and offset."""
    r, x = region.ravel(), ref.ravel()
    var = float(x.var())
    gain = float(((x - x.mean()) * (r - r.mean())).mean() / var) if var > 1e-6 else 1.0
    offset = float(r.mean() - gain * x.mean())
    return float(np.abs(r - (gain * x + offset)).mean())


@dataclass
class EmptyCar:
    """One camera's reference."""

    params: EmptyCarParams
    reference: np.ndarray | None = None
    frames: int = 0  # learning frames since the reference was (re)started
    last_learnt: float | None = None
    unlike: int = 0
    resets: int = 0

    @property
    def ready(self) -> bool:
        return self.reference is not None and self.frames >= self.params.ready_frames

    def learn(self, image_bgr: np.ndarray, ts: float, door_closed: bool, max_score: float) -> bool:
        """Offer a frame; True when it was learnt from. Only closed-door frames with nothing detected teach."""
        p = self.params
        if not p.enabled or not door_closed or max_score > p.quiet_score:
            return False
        if self.last_learnt is not None and 0 <= ts - self.last_learnt < p.learn_every_s:
            return False
        small = _small(image_bgr, p.scale)
        if self.reference is None or self.reference.shape != small.shape:
            self._restart(small, ts)
            return True
        if self.ready and _ncc(small, self.reference) < p.moved_ncc:
            self.unlike += 1
            if self.unlike >= p.moved_frames:
                self._restart(small, ts)
                self.resets += 1
                return True
            return False
        self.unlike = 0
        self.reference = (1 - p.alpha) * self.reference + p.alpha * small
        self.frames += 1
        self.last_learnt = ts
        return True

    def _restart(self, small: np.ndarray, ts: float) -> None:
        self.reference, self.frames, self.last_learnt, self.unlike = small, 1, ts, 0

    def matches(self, image_bgr: np.ndarray, boxes: list[Box]) -> list[bool]:
        """For each box: are its pixels the empty car's? Always False until the reference is ready."""
        if not self.ready or not boxes:
            return [False] * len(boxes)
        p = self.params
        small = _small(image_bgr, p.scale)
        if small.shape != self.reference.shape:  # type: ignore[union-attr]
            return [False] * len(boxes)
        h, w = small.shape
        out = []
        for x1, y1, x2, y2 in boxes:
            c1, r1 = max(int(x1 / p.scale), 0), max(int(y1 / p.scale), 0)
            c2, r2 = min(int(np.ceil(x2 / p.scale)), w), min(int(np.ceil(y2 / p.scale)), h)
            if (c2 - c1) * (r2 - r1) < p.min_cells:
                out.append(False)
                continue
            region, ref = small[r1:r2, c1:c2], self.reference[r1:r2, c1:c2]  # type: ignore[index]
            out.append(_ncc(region, ref) >= p.match_ncc and _mad_after_gain(region, ref) <= p.match_mad)
        return out
