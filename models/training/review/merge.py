"""`gridwatch model merge DIR... --out LABELLED`: the reviewed frames of flywheel folders -> one training folder.

Only frames a person decided about (accepted, corrected or marked empty) go in; skipped and unreviewed ones stay
behind. Names are kept (`<camera>_<epoch ms>`), so models/training/dataset.py's `original_of()` still groups a
camera's frames and a held-out split is one of cameras. Everything is checked before anything is written, and
merging again adds nothing: a frame already in LABELLED (same name, same image bytes) is only updated when its
labels changed since.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from models.training.dataset import _EDGE_FRAME
from models.training.review.folder import FlywheelFolder, Frame, read_names, write_atomic
from models.training.review.labels import Box, Corrections, ReviewError, compare, format_labels

MAX_ERRORS_SHOWN = 10
_MAX_RENAMES = 1000


@dataclass(frozen=True)
class _Item:
    folder: FlywheelFolder
    frame: Frame
    boxes: list[Box]
    prelabel: list[Box] | None


@dataclass
class MergeReport:
    out: Path
    names: tuple[str, ...]
    sources: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    unreviewed: int = 0
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (source name, name in LABELLED)
    boxes: Counter = field(default_factory=Counter)  # class name -> boxes, in the reviewed frames
    empty_frames: int = 0
    compared: int = 0  # reviewed frames with a kept pre-label
    frames_corrected: int = 0
    corrections: Corrections = field(default_factory=Corrections)
    total: int = 0  # frames in LABELLED afterwards

    def lines(self) -> list[str]:
        reviewed = self.new + self.updated + self.unchanged
        boxes = ", ".join(f"{name} {self.boxes[name]}" for name in self.names)
        c = self.corrections
        lines = [
            f"merged {self.sources} folder{'s' * (self.sources != 1)} into {self.out}: {reviewed} reviewed frames, "
            f"{self.new} new, {self.updated} with changed labels, {self.unchanged} already there "
            f"({self.total} frames in {self.out})",
            f"  left out: {self.skipped} skipped, {self.unreviewed} not reviewed yet",
            f"  boxes in the reviewed frames: {boxes}; {self.empty_frames} frames with nothing in them",
            f"  against the model's pre-labels: {self.frames_corrected} of {self.compared} frames corrected; boxes "
            f"{c.kept} kept, {c.reclassed} class changed, {c.deleted} deleted, {c.added} added",
        ]
        lines += [f"  {src} was a different frame than the one of that name already there: merged as {dst}"
                  for src, dst in self.renamed]
        return lines


def _collect(folders: Sequence[FlywheelFolder], report: MergeReport) -> list[_Item]:
    """Every reviewed frame with its checked labels; a ReviewError listing every problem found."""
    items, errors = [], []
    for folder in folders:
        decisions = folder.decisions()
        for frame in folder.frames():
            decision = decisions.get(frame.stem)
            if decision is None:
                report.unreviewed += 1
                continue
            if not decision.labelled:
                report.skipped += 1
                continue
            try:
                folder.image_size(frame)
                items.append(_Item(folder, frame, folder.boxes(frame), folder.prelabel_boxes(frame)))
            except ReviewError as exc:
                errors.append(f"{folder.root}: {exc}")
    if errors:
        more = len(errors) - MAX_ERRORS_SHOWN
        shown = errors[:MAX_ERRORS_SHOWN] + ([f"... and {more} more"] if more > 0 else [])
        raise ReviewError("nothing merged: " + "\n".join(shown))
    return items


def _candidates(stem: str):
    """The name itself, then names that keep the camera group: the epoch ms counted up (a frame of a camera of
    the same name on another edge, at the same millisecond), or a counter for names of another kind."""
    yield stem
    match = _EDGE_FRAME.match(stem)
    for n in range(1, _MAX_RENAMES):
        if match:
            digits = stem[len(match["camera"]) + 1:]
            yield f"{match['camera']}_{int(digits) + n:0{len(digits)}d}"
        else:
            yield f"{stem}-{n}"


def _place(item: _Item, out: Path, report: MergeReport) -> None:
    image_bytes = item.frame.image.read_bytes()
    suffix = item.frame.image.suffix
    for stem in _candidates(item.frame.stem):
        image = out / "images" / f"{stem}{suffix}"
        if image.exists() and image.read_bytes() != image_bytes:
            continue  # another frame has this name: try the next
        label, text = out / "labels" / f"{stem}.txt", format_labels(item.boxes)
        if image.exists():
            if label.is_file() and label.read_text(encoding="utf-8") == text:
                report.unchanged += 1
            else:
                write_atomic(label, text.encode())
                report.updated += 1
        else:
            # The label first: an image without its label would read as "nothing here" to a trainer.
            write_atomic(label, text.encode())
            write_atomic(image, image_bytes)
            report.new += 1
            if stem != item.frame.stem:
                report.renamed.append((str(item.frame.image), image.name))
        prelabel = out / "prelabels" / f"{stem}.txt"
        if item.prelabel is not None and not prelabel.exists():
            write_atomic(prelabel, format_labels(item.prelabel).encode())
        return
    raise ReviewError(f"{item.frame.image}: {_MAX_RENAMES} frames of that name already in {out}")


def _check_names(folders: Sequence[FlywheelFolder], out: Path) -> tuple[str, ...]:
    names = folders[0].names
    for folder in folders[1:]:
        if folder.names != names:
            raise ReviewError(f"class lists differ: {folders[0].root / 'data.yaml'} has {list(names)}, "
                              f"{folder.root / 'data.yaml'} has {list(folder.names)}: merge folders of one model")
    if (out / "data.yaml").is_file() and read_names(out) != names:
        raise ReviewError(f"class lists differ: {out / 'data.yaml'} has {list(read_names(out))}, "
                          f"the folders to merge have {list(names)}")
    return names


def merge(sources: Sequence[Path], out: Path) -> MergeReport:
    out = Path(out)
    unique = list(dict.fromkeys(Path(s).resolve() for s in sources))
    if out.resolve() in unique:
        raise ReviewError(f"{out} is one of the folders to merge: give another --out")
    folders = [FlywheelFolder(s) for s in unique]
    names = _check_names(folders, out)
    report = MergeReport(out=out, names=names, sources=len(folders))
    items = _collect(folders, report)
    for sub in ("images", "labels", "prelabels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    data = {"path": str(out.resolve()), "train": "images", "val": "images", "names": dict(enumerate(names))}
    write_atomic(out / "data.yaml", yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode())
    for item in items:
        _place(item, out, report)
        report.boxes.update(names[b.cls] for b in item.boxes)
        report.empty_frames += not item.boxes
        if item.prelabel is not None:
            corrections = compare(item.prelabel, item.boxes)
            report.compared += 1
            report.frames_corrected += corrections.changed
            report.corrections.add(corrections)
    report.total = sum(1 for p in (out / "images").iterdir() if not p.name.startswith("."))
    return report

