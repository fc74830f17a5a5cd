"""YOLO label files, read strictly: every line `class cx cy w h`, normalised, with a class data.yaml names.

The trainer reads these files leniently (models/vision/metrics.py); here a wrong line is an error that names the
file and the line, because a person is about to confirm it and a trainer would learn from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.vision.metrics import IOU_MATCH, box_iou


class ReviewError(Exception):
    """Bad input, told in one line a person can act on (the CLI prints it, never a traceback)."""


@dataclass(frozen=True)
class Box:
    """One labelled box: class index and centre, width, height as shares of the image."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float

    def line(self) -> str:
        return f"{self.cls} {self.cx:.6f} {self.cy:.6f} {self.w:.6f} {self.h:.6f}"

    def row(self) -> list[float]:
        """As written to the file (6 decimals), for reviewed.jsonl and comparisons."""
        return [self.cls, *(round(v, 6) for v in (self.cx, self.cy, self.w, self.h))]

    def xyxy(self) -> tuple[float, float, float, float]:
        return self.cx - self.w / 2, self.cy - self.h / 2, self.cx + self.w / 2, self.cy + self.h / 2


def parse_labels(text: str, names: Sequence[str], where: str) -> list[Box]:
    """The boxes of a label file's text; `where` names the file in the error."""
    boxes = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        at = f"{where} line {number}"
        if len(fields) != 5:
            raise ReviewError(f"{at}: expected 'class cx cy w h', got {raw.strip()!r}")
        try:
            cls, values = int(fields[0]), [float(v) for v in fields[1:]]
        except ValueError:
            raise ReviewError(f"{at}: not numbers: {raw.strip()!r}") from None
        if not 0 <= cls < len(names):
            raise ReviewError(f"{at}: class {cls} is not in data.yaml's names "
                              f"(0-{len(names) - 1}: {', '.join(names)})")
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values) or values[2] <= 0 or values[3] <= 0:
            raise ReviewError(f"{at}: box {' '.join(fields[1:])} is not inside the image (shares 0-1)")
        boxes.append(Box(cls, *values))
    return boxes


def read_labels(path: Path, names: Sequence[str], where: str | None = None) -> list[Box]:
    """A label file's boxes; no file: no boxes (as a trainer reads it)."""
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewError(f"{where or path}: cannot read: {exc}") from None
    return parse_labels(text, names, where or str(path))


def format_labels(boxes: Sequence[Box]) -> str:
    return "".join(box.line() + "\n" for box in boxes)


@dataclass
class Corrections:
    """How a person's labels differ from the model's pre-labels, box by box (matched at IoU >= 0.5)."""

    kept: int = 0  # same place, same class
    reclassed: int = 0  # same place, other class
    deleted: int = 0  # a pre-label with no box left where it was (a false detection)
    added: int = 0  # a box the model did not give (a missed object)

    def add(self, other: Corrections) -> None:
        self.kept += other.kept
        self.reclassed += other.reclassed
        self.deleted += other.deleted
        self.added += other.added

    @property
    def changed(self) -> bool:
        return bool(self.reclassed or self.deleted or self.added)


def compare(before: Sequence[Box], after: Sequence[Box]) -> Corrections:
    """Greedy one-to-one matching by IoU (shares of the image: IoU does not change with the axes' scales)."""
    iou = box_iou(np.array([b.xyxy() for b in before]).reshape(-1, 4),
                  np.array([a.xyxy() for a in after]).reshape(-1, 4))
    result = Corrections()
    used_before: set[int] = set()
    used_after: set[int] = set()
    for flat in np.argsort(-iou, axis=None):
        i, j = np.unravel_index(flat, iou.shape)
        if iou[i, j] < IOU_MATCH:
            break
        if i in used_before or j in used_after:
            continue
        used_before.add(int(i))
        used_after.add(int(j))
        if before[i].cls == after[j].cls:
            result.kept += 1
        else:
            result.reclassed += 1
    result.deleted = len(before) - len(used_before)
    result.added = len(after) - len(used_after)
    return result
