"""The real material of a recipe, by scene: the elevator screenshots, the street e-bikes, the wheelchairs.

Each labelled photograph is read once, as its plain copy (the augmented copies of the elevator set are only
used as they are, in the `real` ingredient); boxes are kept in pixels, by class.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.training.dataset import LabelledImage, find_images
from models.training.synth.cutouts import Box

SHARED_DIR = Path(__file__).resolve().parents[4] / "shared"
ELEVATOR_SET = SHARED_DIR / "data" / "vision" / "ebike-elevator" / "yolo"
EXTRA_SET = SHARED_DIR / "data" / "vision" / "ebike-extra"
EXTRA_POSITIVES = "gumplyz-ebike"  # folder under EXTRA_SET/images: e-bikes in streets and shops
WHEELCHAIRS = "yizhuoyang-wheelchair"  # folder under EXTRA_SET/images: wheelchairs, no boxes
EBIKE, PERSON = 0, 1


@dataclass(frozen=True)
class Photo:
    scene: str
    path: Path
    ebikes: tuple[Box, ...]
    people: tuple[Box, ...]

    def load(self) -> np.ndarray:
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read image {self.path}")
        return image


def _boxes(label: Path | None, hw: tuple[int, int]) -> dict[int, tuple[Box, ...]]:
    h, w = hw
    found: dict[int, list[Box]] = defaultdict(list)
    for line in (label.read_text().splitlines() if label else []):
        parts = line.split()
        if len(parts) < 5:
            continue
        cls, cx, cy, bw, bh = int(float(parts[0])), *(float(v) for v in parts[1:5])
        found[cls].append((max((cx - bw / 2) * w, 0.0), max((cy - bh / 2) * h, 0.0),
                           min((cx + bw / 2) * w, w), min((cy + bh / 2) * h, h)))
    return {k: tuple(v) for k, v in found.items()}


def _photo(item: LabelledImage, scene: str) -> Photo:
    image = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {item.image}")
    boxes = _boxes(item.label, image.shape[:2])
    return Photo(scene, item.image, boxes.get(EBIKE, ()), boxes.get(PERSON, ()))


@dataclass(frozen=True)
class Material:
    elevator: dict[str, Photo]  # original -> its plain copy
    elevator_copies: dict[str, list[LabelledImage]]  # original -> every image of it (plain and augmented)
    street: dict[str, Photo]  # e-bikes outside elevators
    wheelchairs: dict[str, Path]  # scene -> photo

    @classmethod
    def load(cls, elevator_set: Path = ELEVATOR_SET, extra_set: Path = EXTRA_SET) -> Material:
        copies: dict[str, list[LabelledImage]] = defaultdict(list)
        for item in find_images(elevator_set):
            copies[item.original].append(item)
        plain = {name: next((i for i in items if i.is_original), items[0]) for name, items in copies.items()}
        elevator = {name: _photo(item, name) for name, item in sorted(plain.items())}
        street: dict[str, Photo] = {}
        wheelchairs: dict[str, Path] = {}
        if (extra_set / "images" / EXTRA_POSITIVES).is_dir():
            for item in find_images(extra_set / "images" / EXTRA_POSITIVES):
                label = extra_set / "labels" / EXTRA_POSITIVES / f"{item.image.stem}.txt"
                street[item.image.stem] = _photo(LabelledImage(item.image, label if label.is_file() else None),
                                                 item.image.stem)
        if (extra_set / "images" / WHEELCHAIRS).is_dir():
            wheelchairs = {p.stem: p for p in sorted((extra_set / "images" / WHEELCHAIRS).glob("*.jpg"))}
        return cls(elevator, dict(copies), street, wheelchairs)
