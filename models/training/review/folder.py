"""A flywheel folder under review: its class names, its frames, and each person's decision about a frame.

Layout (edge/elevator/flywheel.py writes the first three; review adds the last two):
  images/<camera>_<epoch ms>.jpg   the frame
  labels/<stem>.txt                its YOLO labels: the model's pre-labels until a person decides
  data.yaml                        `names`, in label order
  prelabels/<stem>.txt             the model's pre-labels, kept once before the first change
  reviewed.jsonl                   one line per decision; the last one of a frame is its state
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ValidationError

from models.training.dataset import IMAGE_SUFFIXES
from models.training.review.labels import Box, ReviewError, format_labels, read_labels

log = logging.getLogger(__name__)

Action = Literal["accept", "correct", "empty", "skip"]
UNREVIEWED = "unreviewed"
DECISIONS_FILE = "reviewed.jsonl"


class Decision(BaseModel):
    """One line of reviewed.jsonl. accept: the labels kept as they were; correct: changed; empty: nothing in
    the frame; skip: no decision (left out of a merge). Boxes as rows `[class, cx, cy, w, h]`."""

    stem: str
    action: Action
    before: list[list[float]]
    after: list[list[float]] | None  # None for a skip: the label file was not touched
    time: str  # RFC 3339, wall clock
    via: Literal["page", "terminal"]

    @property
    def labelled(self) -> bool:
        return self.action != "skip"


def supersedes(decision: Decision, earlier: Decision | None) -> bool:
    """Whether `decision` becomes the frame's state: a skip does not undo an earlier label."""
    return decision.labelled or earlier is None or not earlier.labelled


def read_names(root: Path) -> tuple[str, ...]:
    """data.yaml's class names in label order (a list, or a dict {0: name, ...} as ultralytics writes it)."""
    path = root / "data.yaml"
    if not path.is_file():
        raise ReviewError(f"{path} not found: not a flywheel folder (images/, labels/, data.yaml with names)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReviewError(f"{path}: cannot read it as YAML: {' '.join(str(exc).split())}") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict) and sorted(names) == list(range(len(names))):
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ReviewError(f"{path}: `names` must be a list of class names (or {{0: name, 1: name, ...}})")
    return tuple(names)


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of it. The temporary name ends in .tmp, so a crash
    leaves nothing a trainer would take for an image, and the edge's own clean-up (.tmp-*) never races it."""
    tmp = path.with_name(f".{path.name}.review.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class Frame:
    stem: str
    image: Path
    label: Path
    prelabel: Path


class FlywheelFolder:
    """Decisions are appended under a lock: the page's server answers from several threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ReviewError(f"{self.root}: no such folder")
        self.names = read_names(self.root)
        self.images = self.root / "images"
        if not self.images.is_dir():
            raise ReviewError(f"{self.images}: no such folder: not a flywheel folder")
        self.labels = self.root / "labels"
        self.prelabels = self.root / "prelabels"
        self.decisions_path = self.root / DECISIONS_FILE
        self._lock = threading.Lock()

    def _frame(self, image: Path) -> Frame:
        stem = image.stem
        return Frame(stem, image, self.labels / f"{stem}.txt", self.prelabels / f"{stem}.txt")

    def frames(self) -> list[Frame]:
        """Every image, by name: one camera's frames together and in time order (they look alike, so they are
        quickest to label in a row). Files starting with a dot (a writer's temporary) are not frames."""
        images = sorted(p for p in self.images.iterdir()
                        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
        return [self._frame(p) for p in images]

    def frame(self, stem: str) -> Frame | None:
        """The frame of this name, or None; never a path outside images/ (the name comes from a URL)."""
        if not stem or stem.startswith(".") or "/" in stem or "\\" in stem:
            return None
        for image in self.images.glob(f"{stem}.*"):
            if image.stem == stem and image.suffix.lower() in IMAGE_SUFFIXES and image.is_file():
                return self._frame(image)
        return None

    def boxes(self, frame: Frame) -> list[Box]:
        return read_labels(frame.label, self.names, f"labels/{frame.label.name}")

    def prelabel_boxes(self, frame: Frame) -> list[Box] | None:
        """The model's pre-labels as kept before the first change; None when the frame was never labelled."""
        if not frame.prelabel.is_file():
            return None
        return read_labels(frame.prelabel, self.names, f"prelabels/{frame.prelabel.name}")

    def image_size(self, frame: Frame) -> tuple[int, int]:
        """(width, height), or a ReviewError when the file is no whole image OpenCV can decode."""
        import cv2
        import numpy as np

        try:
            data = frame.image.read_bytes()
        except OSError as exc:
            raise ReviewError(f"images/{frame.image.name}: cannot read: {exc.strerror or exc}") from None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        # OpenCV decodes a truncated JPEG into a half-grey picture with only a warning: its end marker tells.
        truncated = frame.image.suffix.lower() in (".jpg", ".jpeg") and b"\xff\xd9" not in data[-64:]
        if image is None or truncated:
            raise ReviewError(f"images/{frame.image.name}: not a readable image (corrupt or truncated?)")
        return image.shape[1], image.shape[0]

    def problem(self, frame: Frame) -> str | None:
        """Why this frame cannot be labelled (unreadable image, bad label line), or None."""
        try:
            self.image_size(frame)
            self.boxes(frame)
        except ReviewError as exc:
            return str(exc)
        return None

    def decisions(self) -> dict[str, Decision]:
        """The state of each frame: its last decision, except that a skip does not undo an earlier label (passing
        a labelled frame by is no decision against it). A line that does not parse (a crash mid-append) is
        passed over."""
        last: dict[str, Decision] = {}
        try:
            lines = self.decisions_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return last
        except (OSError, UnicodeDecodeError) as exc:
            raise ReviewError(f"{self.decisions_path}: cannot read: {exc}") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                decision = Decision.model_validate_json(line)
            except ValidationError:
                log.warning("%s line %d is not a decision; passed over", self.decisions_path, number)
                continue
            if supersedes(decision, last.get(decision.stem)):
                last[decision.stem] = decision
        return last

    def start_index(self, frames: Sequence[Frame], decisions: dict[str, Decision]) -> int:
        """Where a person resumes: the first frame nobody decided about, else the first skipped, else 0."""
        for wanted in (lambda d: d is None, lambda d: d is not None and not d.labelled):
            for i, frame in enumerate(frames):
                if wanted(decisions.get(frame.stem)):
                    return i
        return 0

    def decide(self, frame: Frame, action: Literal["save", "empty", "skip"], boxes: Sequence[Box] = (),
               via: Literal["page", "terminal"] = "page") -> Decision:
        """Writes the frame's labels (save: these boxes, empty: none; skip: nothing) and records the decision.

        The pre-label is copied to prelabels/ the first time, before the label file changes, so a later
        merge can tell how often the model was corrected."""
        for box in boxes:
            if not 0 <= box.cls < len(self.names):
                raise ReviewError(f"class {box.cls} is not in data.yaml's names ({', '.join(self.names)})")
        with self._lock:
            before = self.boxes(frame)
            after = [] if action == "empty" else list(boxes)
            if action == "skip":
                name: Action = "skip"
            elif action == "empty":
                name = "empty"
            else:
                name = "accept" if [b.row() for b in after] == [b.row() for b in before] else "correct"
            if action != "skip":
                if not frame.prelabel.exists():
                    self.prelabels.mkdir(exist_ok=True)
                    write_atomic(frame.prelabel, frame.label.read_bytes() if frame.label.is_file() else b"")
                self.labels.mkdir(exist_ok=True)
                write_atomic(frame.label, format_labels(after).encode())
            decision = Decision(stem=frame.stem, action=name, before=[b.row() for b in before],
                                after=None if action == "skip" else [b.row() for b in after],
                                time=datetime.now(UTC).isoformat(timespec="seconds"), via=via)
            self._append(decision)
        return decision

    def _append(self, decision: Decision) -> None:
        line = json.dumps(decision.model_dump(), ensure_ascii=False, separators=(",", ":")) + "\n"
        fd = os.open(self.decisions_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = "\n" + line  # a line cut short by a crash must not swallow this one
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

