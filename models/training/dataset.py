"""A labelled YOLO folder -> a training set split by original, never by augmented copy.

The shared e-bike set holds 28 screenshots, each augmented about seven ways (blur, noise, mirror, ...), and its own
train/test split puts copies of one original on both sides. A metric on such a split measures memory, not
generalisation, so images are grouped by their original (the name before the augmentation suffix) and whole
groups go to one side.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from simulators.elevator.names import EDGE_FRAME

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
DEFAULT_NAMES = ("ebike", "person")
# The suffixes the shared set's augmentations append to the original's name.
# ... and `_crop<n>`: the background crops write_background_crops adds.
_AUGMENTATION = re.compile(r"(GaussNoise|blur|img_Pepper|img_basic|img_light|img_move|img_reverse|_crop\d+)$")
# Frames the edge saved for labelling are named <camera>_<epoch ms>: the camera is the group (a held-out camera,
# as in a new building). The pattern is the simulator's, which plays such frames as rides.
_EDGE_FRAME = EDGE_FRAME


def original_of(image: Path) -> str:
    """The group key: the file name without its augmentation suffix, or the camera of an edge frame."""
    stem = _AUGMENTATION.sub("", image.stem)
    edge_frame = _EDGE_FRAME.match(stem)
    return f"camera:{edge_frame['camera']}" if edge_frame else stem


@dataclass(frozen=True)
class LabelledImage:
    image: Path
    label: Path | None  # None: no label file, i.e. nothing to find in it (a negative)

    @property
    def original(self) -> str:
        return original_of(self.image)

    @property
    def is_original(self) -> bool:
        """Not an augmented copy (every edge frame is an original)."""
        return _AUGMENTATION.search(self.image.stem) is None


def find_images(root: Path) -> list[LabelledImage]:
    """Every image under `root` with the YOLO label beside it (`images/...` -> `labels/...`, or the same folder)."""
    found: list[LabelledImage] = []
    for image in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        candidates = [image.with_suffix(".txt")]
        parts = image.parts
        if "images" in parts:
            i = len(parts) - 1 - parts[::-1].index("images")
            candidates.insert(0, Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt"))
        label = next((c for c in candidates if c.is_file()), None)
        found.append(LabelledImage(image, label))
    if not found:
        raise FileNotFoundError(f"no images under {root}")
    return found


@dataclass(frozen=True)
class Split:
    train: list[LabelledImage]
    val: list[LabelledImage]

    @property
    def val_originals(self) -> list[LabelledImage]:
        """The held-out images that are no augmented copy: the figures of the model card."""
        return [i for i in self.val if i.is_original]

    def groups(self) -> tuple[list[str], list[str]]:
        return sorted({i.original for i in self.train}), sorted({i.original for i in self.val})


def split_by_original(images: list[LabelledImage], val_share: float = 0.25, seed: int = 0) -> Split:
    """Whole groups to each side; `val_share` of the groups (at least one) are held out. val_share 0: all train."""
    if not 0.0 <= val_share < 1.0:
        raise ValueError("val_share must be in [0, 1)")
    groups: dict[str, list[LabelledImage]] = defaultdict(list)
    for item in images:
        groups[item.original].append(item)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_val = 0 if val_share == 0 else max(1, round(len(keys) * val_share))
    if n_val >= len(keys) and val_share > 0:
        raise ValueError(f"{len(keys)} originals cannot be split with val_share {val_share}")
    val_keys = set(keys[:n_val])
    return Split(
        train=[i for k in sorted(groups) if k not in val_keys for i in groups[k]],
        val=[i for k in sorted(groups) if k in val_keys for i in groups[k]],
    )


def _link(item: LabelledImage, out: Path, side: str) -> None:
    image_dir, label_dir = out / "images" / side, out / "labels" / side
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    target = image_dir / item.image.name
    if not target.exists():
        target.symlink_to(item.image.resolve())
    label = label_dir / f"{item.image.stem}.txt"
    text = item.label.read_text() if item.label else ""
    label.write_text(text if text.endswith("\n") or not text else text + "\n")


def write_dataset(split: Split, out: Path, names: tuple[str, ...] = DEFAULT_NAMES) -> Path:
    """An ultralytics dataset folder (images linked, labels copied) and its data.yaml; returns the yaml's path.

    Three sides: train, val (every held-out image) and test (the held-out originals alone, no augmented copy).
    """
    out.mkdir(parents=True, exist_ok=True)
    for item in split.train:
        _link(item, out, "train")
    for item in split.val:
        _link(item, out, "val")
    for item in split.val_originals:
        _link(item, out, "test")
    train_groups, val_groups = split.groups()
    data = {
        "path": str(out.resolve()),
        "train": "images/train",
        # ultralytics wants a val set while training; with nothing held out the train set stands in.
        "val": "images/val" if split.val else "images/train",
        "test": "images/test" if split.val else "images/train",
        "names": dict(enumerate(names)),
        "split": {"train_originals": train_groups, "val_originals": val_groups},
    }
    path = out / "data.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _clip_rows(rows: list[list[float]], rect: tuple[int, int, int, int], hw: tuple[int, int],
               min_visible: float) -> list[str]:
    """YOLO rows of the full image -> rows of the crop `rect` (x, y, w, h), keeping boxes mostly inside."""
    x0, y0, cw, ch = rect
    h, w = hw
    out = []
    for cls, cx, cy, bw, bh in rows:
        x1, y1, x2, y2 = (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h
        vx1, vy1, vx2, vy2 = max(x1, x0), max(y1, y0), min(x2, x0 + cw), min(y2, y0 + ch)
        if vx2 <= vx1 or vy2 <= vy1 or (vx2 - vx1) * (vy2 - vy1) < min_visible * (x2 - x1) * (y2 - y1):
            continue
        out.append(f"{int(cls)} {((vx1 + vx2) / 2 - x0) / cw:.6f} {((vy1 + vy2) / 2 - y0) / ch:.6f} "
                   f"{(vx2 - vx1) / cw:.6f} {(vy2 - vy1) / ch:.6f}")
    return out


def write_background_crops(train: list[LabelledImage], out: Path, per_original: int, *, ebike_class: int = 0,
                           min_share: float = 0.2, min_visible: float = 0.4, seed: int = 0) -> int:
    """Crops of the training originals that touch no e-bike, with the other boxes clipped to them, into the train
    side. Why: on crops of held-out originals the first model called a rider's helmeted head an e-bike (no
    training image showed a head without a bike under it); these teach it what a car without a bike looks like.
    (Close-ups of heads and shoulders were tried too and did not help: 14 false alerts on the crop rides of
    `gridwatch eval elevator` against 8.)
    A person cut to less than `min_visible` of its box is left unlabelled. Returns the crops written."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    image_dir, label_dir = out / "images" / "train", out / "labels" / "train"
    written = 0
    for item in (i for i in train if i.is_original):
        image = cv2.imread(str(item.image))
        if image is None:
            continue
        h, w = image.shape[:2]
        rows = [[float(v) for v in line.split()[:5]] for line in (item.label.read_text().splitlines()
                                                                   if item.label else []) if line.strip()]
        bikes = [((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
                 for cls, cx, cy, bw, bh in rows if int(cls) == ebike_class]
        made = 0
        for _ in range(per_original * 50):
            if made == per_original:
                break
            cw, ch = int(rng.uniform(min_share ** 0.5, 1.0) * w), int(rng.uniform(min_share ** 0.5, 1.0) * h)
            if cw * ch < min_share * w * h:
                continue
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            if any(x0 < bx2 and bx1 < x0 + cw and y0 < by2 and by1 < y0 + ch for bx1, by1, bx2, by2 in bikes):
                continue
            _write_crop(image, rows, (x0, y0, cw, ch), image_dir, label_dir, f"{item.image.stem}_crop{made}",
                        ebike_class, min_visible)
            made += 1
        written += made
    return written


def _write_crop(image, rows: list[list[float]], rect: tuple[int, int, int, int], image_dir: Path, label_dir: Path,
                name: str, ebike_class: int, min_visible: float) -> None:
    import cv2

    x0, y0, cw, ch = rect
    cv2.imwrite(str(image_dir / f"{name}.jpg"), image[y0:y0 + ch, x0:x0 + cw])
    h, w = image.shape[:2]
    lines = _clip_rows([r for r in rows if int(r[0]) != ebike_class], rect, (h, w), min_visible)
    (label_dir / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
