"""The shared e-bike elevator originals and their YOLO labels (class 0 = ebike, 1 = person)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

EBIKE, PERSON = 0, 1


def dataset(shared_dir: Path) -> Path:
    return shared_dir / "data/vision/ebike-elevator"


def originals(shared_dir: Path) -> list[Path]:
    return sorted((dataset(shared_dir) / "originals").glob("Snipaste_*.png"))


def labels_of(original: Path) -> tuple[np.ndarray, np.ndarray]:
    """(class ids, xyxy in the original's pixels) from the un-augmented label file of the same name.

    Each original's own label file (no augmentation suffix) lies in train or test; mirrored copies would not match.
    """
    root = original.parents[1] / "yolo/labels"
    (path,) = [p for p in (root / "train" / f"{original.stem}.txt", root / "test" / f"{original.stem}.txt")
               if p.exists()]
    rows = np.loadtxt(path, ndmin=2)
    h, w = cv2.imread(str(original)).shape[:2]
    cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
    return rows[:, 0].astype(int), np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
