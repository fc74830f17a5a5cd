"""The detector's output: one frozen, validated value, so decision code never reads raw arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes in source-image pixels (x1, y1, x2, y2), one score and class id per box."""

    xyxy: np.ndarray  # float32 (N, 4)
    scores: np.ndarray  # float32 (N,)
    class_ids: np.ndarray  # int64 (N,)
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        class_ids = np.asarray(self.class_ids).reshape(-1)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must be (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        if scores.shape != (n,) or class_ids.shape != (n,):
            raise ValueError(f"scores {scores.shape} and class_ids {class_ids.shape} must be ({n},)")
        if n and not np.issubdtype(class_ids.dtype, np.integer):
            if not np.all(class_ids == np.round(class_ids)):
                raise ValueError("class_ids must be integers")
        class_ids = class_ids.astype(np.int64)
        if not np.all(np.isfinite(xyxy)) or not np.all(np.isfinite(scores)):
            raise ValueError("boxes and scores must be finite")
        if np.any(xyxy[:, 2] < xyxy[:, 0]) or np.any(xyxy[:, 3] < xyxy[:, 1]):
            raise ValueError("boxes must have x2 >= x1 and y2 >= y1")
        if n and (class_ids.min() < 0 or class_ids.max() >= len(self.class_names)):
            raise ValueError(f"class_ids must be in [0, {len(self.class_names)})")
        # Frozen arrays too: a Detections handed to several rules must not be changed by one of them.
        for arr in (xyxy, scores, class_ids):
            arr.flags.writeable = False
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", class_ids)
        object.__setattr__(self, "class_names", tuple(self.class_names))

    @classmethod
    def empty(cls, class_names: tuple[str, ...]) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), class_names)

    def __len__(self) -> int:
        return len(self.scores)

    def _take(self, keep: np.ndarray) -> Detections:
        return Detections(self.xyxy[keep], self.scores[keep], self.class_ids[keep], self.class_names)

    def with_classes(self, *names: str) -> Detections:
        """Only the boxes of these classes; an unknown name is an error, not an empty result."""
        unknown = [n for n in names if n not in self.class_names]
        if unknown:
            raise KeyError(f"unknown classes {unknown}; known: {self.class_names}")
        ids = [self.class_names.index(n) for n in names]
        return self._take(np.isin(self.class_ids, ids))

    def above(self, min_score: float) -> Detections:
        return self._take(self.scores >= min_score)

    def labels(self) -> list[str]:
        return [self.class_names[i] for i in self.class_ids]
