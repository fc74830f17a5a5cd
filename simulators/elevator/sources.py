"""Where footage comes from: a labelled YOLO set, an image folder (labels optional) or a video file.

The labelled set holds each original several times (blur, noise, mirror...); one copy per original
is kept, preferably the plain one, so that a scored original is one scene, not seven.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from simulators.elevator.names import group_of, original_of

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
EBIKE_CLASS = 0
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg"}
DEFAULT_SPLIT = Path(__file__).resolve().parents[2] / "models" / "weights" / "ebike.split.json"


@dataclass(frozen=True)
class Still:
    """One image; `ebike_boxes` None when there are no labels (truth unknown)."""

    name: str  # the original's name (or the file stem)
    path: Path
    ebike_boxes: tuple[Box, ...] | None

    def load(self) -> np.ndarray:
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read image {self.path}")
        return image


@dataclass(frozen=True)
class Source:
    kind: str  # "labelled" | "images" | "video"
    path: Path
    stills: tuple[Still, ...] = ()
    scored: tuple[str, ...] = ()  # originals kept by the split (labelled sources)
    split_file: Path | None = None


def read_boxes(label_path: Path, width: int, height: int, cls: int = EBIKE_CLASS) -> tuple[Box, ...]:
    """YOLO txt (class cx cy w h, normalised) -> pixel boxes of one class; a missing file means no objects."""
    if not label_path.is_file():
        return ()
    boxes = []
    for line in label_path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 5 or int(float(parts[0])) != cls:
            continue
        cx, cy, bw, bh = (float(v) for v in parts[1:5])
        boxes.append((max((cx - bw / 2) * width, 0.0), max((cy - bh / 2) * height, 0.0),
                      min((cx + bw / 2) * width, width), min((cy + bh / 2) * height, height)))
    return tuple(boxes)


def read_split(path: Path | None) -> tuple[list[str] | None, Path | None]:
    """The held-out originals of a split file, the default file when it exists: `test_originals` (a split by
    scene with a val side for calibration, models/training/scenes.py), else the older files' `val_originals`."""
    path = path or (DEFAULT_SPLIT if DEFAULT_SPLIT.is_file() else None)
    if path is None:
        return None, None
    data = json.loads(path.read_text())
    return list(data["test_originals"] if "test_originals" in data else data["val_originals"]), path


def _images(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def _labelled_still(image: Path, label: Path, name: str) -> Still:
    pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ValueError(f"cannot read image {image}")
    h, w = pixels.shape[:2]
    return Still(name, image, read_boxes(label, w, h))


def open_source(path: Path, labels: Path | None = None, split: Collection[str] | None = None,
                split_file: Path | None = None) -> Source:
    """Guess the kind of source; `split` keeps only those originals of a labelled source."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in VIDEO_EXTS:
        return Source("video", path)
    if path.is_file() and path.suffix.lower() in IMAGE_EXTS:
        return Source("images", path, (Still(path.stem, path, None),))
    if not path.is_dir():
        raise FileNotFoundError(f"no video, image or folder at {path}")
    if labels is None and (path / "images").is_dir() and (path / "labels").is_dir():
        chosen: dict[str, tuple[Path, Path]] = {}
        for image in _images(path / "images"):
            label = (path / "labels" / image.relative_to(path / "images")).with_suffix(".txt")
            name = original_of(image.stem)
            if name not in chosen or image.stem == name:  # the plain copy wins over an augmented one
                chosen[name] = (image, label)
        return _labelled(path, chosen, split, split_file)
    if labels is not None:
        pairs = {original_of(p.stem): (p, labels / f"{p.stem}.txt") for p in _images(path)}
        return _labelled(path, pairs, split, split_file)
    return Source("images", path, tuple(Still(p.stem, p, None) for p in _images(path)))


def _labelled(path: Path, pairs: dict[str, tuple[Path, Path]], split: Collection[str] | None,
              split_file: Path | None) -> Source:
    names = sorted(n for n in pairs if split is None or n in split or group_of(n) in split)
    if not names:
        raise ValueError(f"no labelled images in {path}" + (" of the split's originals" if split else ""))
    stills = tuple(_labelled_still(*pairs[n], n) for n in names)
    return Source("labelled", path, stills, tuple(names), split_file)
