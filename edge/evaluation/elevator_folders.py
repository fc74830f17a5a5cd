"""Scenes from any folder of frames, for `gridwatch eval elevator --negatives DIR` and `--positives DIR`.

- every image is one scene: a still the camera sees for the ride's length (with per-frame camera jitter,
  noise and JPEG, as the labelled rides have);
- a video file is one scene, played at the ride's fps;
- a folder holding a file named `SEQUENCE` is one scene: its images in name order, one per frame.
A scene's kind is the first folder under DIR (`wheelchair/…`, `crowd/…`), or `scene` for files at the top.
The door is open for the whole ride, as a car at a floor with someone wheeling something in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from simulators.elevator.footage import Ride, RideSpec, video_ride
from simulators.elevator.sources import IMAGE_EXTS, VIDEO_EXTS

SEQUENCE_MARKER = "SEQUENCE"


@dataclass(frozen=True)
class FolderScene:
    name: str  # relative to DIR
    kind: str
    paths: tuple[Path, ...]  # one image, one video, or a sequence's frames


def folder_scenes(root: Path) -> list[FolderScene]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}")
    sequences = sorted(p.parent for p in root.rglob(SEQUENCE_MARKER))
    scenes: list[FolderScene] = []
    for folder in sequences:
        frames = tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS))
        if frames:
            scenes.append(FolderScene(str(folder.relative_to(root)), _kind(root, folder / "x"), frames))
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(seq in path.parents for seq in sequences):
            continue
        if path.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS:
            scenes.append(FolderScene(str(path.relative_to(root)), _kind(root, path), (path,)))
    if not scenes:
        raise ValueError(f"no images, videos or SEQUENCE folders under {root}")
    return scenes


def _kind(root: Path, path: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else "scene"


def _read(path: Path):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return image


def scene_rides(scenes: list[FolderScene], spec: RideSpec, seed: int, *, has_ebike: bool) -> Iterator[Ride]:
    """One ride per scene; truth per frame is the folder's (all e-bike or none), counted from the first frame."""
    for i, scene in enumerate(scenes):
        ride_seed = seed * 1_000_003 + 500_000 + i
        kind = "positive" if has_ebike else "scene"
        first = 0.0 if has_ebike else None
        if len(scene.paths) == 1 and scene.paths[0].suffix.lower() in VIDEO_EXTS:
            ride = video_ride(str(scene.paths[0]), spec, ride_seed)
            ride.kind, ride.first_ebike_s, ride.source = kind, first, scene.name  # type: ignore[assignment]
        elif len(scene.paths) == 1:
            n = max(1, round(spec.ride_s * spec.fps))
            ride = Ride(kind, scene.name, spec.fps, n / spec.fps, n / spec.fps, first, ride_seed,  # type: ignore[arg-type]
                        _views=[(_read(scene.paths[0]), n, has_ebike)])
        else:
            views = [(_read(p), 1, has_ebike) for p in scene.paths]
            n = len(views)
            ride = Ride(kind, scene.name, spec.fps, n / spec.fps, n / spec.fps, first, ride_seed,  # type: ignore[arg-type]
                        _views=views)
        ride.group = scene.kind
        ride.door_close_s = ride.duration_s  # the door stays open: nothing closes it in these scenes
        yield ride
