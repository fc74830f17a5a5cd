"""The data flywheel: frames the detector is unsure about are kept, pre-labelled, for a person to correct.

The folder is a YOLO dataset as it stands (images/, labels/, data.yaml), so once the labels are checked
`gridwatch model train --data <dir>/data.yaml` trains on this site's own cameras.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge.elevator.config import FlywheelConfig
from edge.elevator.evidence import safe_name
from models.vision.types import Detections

log = logging.getLogger(__name__)

IMAGE_QUALITY = 95  # these frames are for labelling: keep the detail


def yolo_lines(detections: Detections, class_names: Sequence[str], width: int, height: int,
               min_score: float) -> list[str]:
    """`class cx cy w h` (normalised to the image) for each box scored >= min_score whose class is known."""
    lines = []
    for box, score, name in zip(detections.xyxy, detections.scores, detections.labels(), strict=True):
        if score < min_score or name not in class_names:
            continue
        x1, x2 = np.clip([box[0], box[2]], 0, width)
        y1, y2 = np.clip([box[1], box[3]], 0, height)
        if x2 <= x1 or y2 <= y1:
            continue
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        lines.append(f"{class_names.index(name)} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return lines


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class UnsureFrames:
    """Keeps a frame when an e-bike box scores in [low, high): at most one per camera per min_interval_s (event
    time) and never more than max_images in the folder."""

    def __init__(self, root: Path, config: FlywheelConfig, class_names: Sequence[str],
                 ebike_classes: Sequence[str] = ("ebike",)) -> None:
        self.root = Path(root)
        self.config = config
        self.class_names = tuple(class_names)
        self.ebike_classes = frozenset(ebike_classes)
        self.images = self.root / "images"
        self.labels = self.root / "labels"
        self._last_saved: dict[str, float] = {}
        self._full_logged = False
        if not config.enabled:
            self._count = 0
            return
        self.images.mkdir(parents=True, exist_ok=True)
        self.labels.mkdir(parents=True, exist_ok=True)
        for stale in [*self.images.glob(".tmp-*"), *self.labels.glob(".tmp-*")]:  # a crash mid-write; a trainer
            stale.unlink(missing_ok=True)  # globbing the folder would take them for images
        data = {"path": str(self.root.resolve()), "train": "images", "val": "images",
                "names": dict(enumerate(self.class_names))}
        _write_atomic(self.root / "data.yaml", yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode())
        self._count = sum(1 for p in self.images.iterdir() if p.suffix == ".jpg" and not p.name.startswith("."))

    def count(self) -> int:
        return self._count

    def forget(self, elevator_id: str) -> None:
        self._last_saved.pop(elevator_id, None)

    def is_unsure(self, detections: Detections) -> bool:
        cfg = self.config
        return any(name in self.ebike_classes and cfg.low <= score < cfg.high
                   for score, name in zip(detections.scores, detections.labels(), strict=True))

    def consider(self, elevator_id: str, ts: float, image_bgr: np.ndarray, detections: Detections) -> Path | None:
        """Saves the frame and its pre-labels when it is unsure and allowed; returns the image's path."""
        if not self.config.enabled or not self.is_unsure(detections):
            return None
        last = self._last_saved.get(elevator_id)
        if last is not None and abs(ts - last) < self.config.min_interval_s:
            return None
        if self._count >= self.config.max_images:
            if not self._full_logged:
                log.warning("unsure-frame folder %s is full (%d images): label and train, then clear it",
                            self.root, self._count)
                self._full_logged = True
            return None
        ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, IMAGE_QUALITY])
        if not ok:
            log.warning("cannot encode an unsure frame of %s", elevator_id)
            return None
        h, w = image_bgr.shape[:2]
        lines = yolo_lines(detections, self.class_names, w, h, self.config.low)
        stem = f"{safe_name(elevator_id)}_{round(ts * 1000)}"
        image_path = self.images / f"{stem}.jpg"
        new = not image_path.exists()
        # The label first: an image without its label would read as "nothing here" to a trainer.
        _write_atomic(self.labels / f"{stem}.txt", "".join(line + "\n" for line in lines).encode())
        _write_atomic(image_path, buf.tobytes())
        self._last_saved[elevator_id] = ts
        self._count += int(new)
        return image_path
