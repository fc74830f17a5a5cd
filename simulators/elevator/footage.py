"""Rides: what one elevator camera sees between the door opening and the car leaving, with ground truth.

A positive ride shows a clean view of the scene first (the car before the bike is pushed in), then
the labelled image with the e-bike; the door is open at the start and closes a few seconds after the
bike came in. Negatives come from real pixels only: crops that touch no e-bike box (`crop`) and the
originals with the bikes painted out (`inpaint`, harder). Every frame passes through a camera model
(a few % of shift and zoom, brightness, sensor noise, JPEG at quality 70-90) so the detector never
sees the same frame twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from simulators.elevator.sources import Box, Source, Still

RideKind = Literal["positive", "crop", "inpaint", "scene", "unknown"]  # scene: a folder's scene without e-bike
DoorState = Literal["open", "closed"]
CAMERA_HW = (540, 960)  # negatives' crops are resized to a 16:9 camera frame
MIN_CROP_SHARE = 0.25
CROP_ASPECTS = (1.0, 2.4)  # width/height of a negative crop before it is resized to 16:9 (a mild stretch at most)


@dataclass(frozen=True)
class RideFrame:
    t: float  # seconds since the ride started (door opened)
    jpeg: bytes
    ebike: bool | None  # truth for this frame; None when unknown
    door: DoorState


@dataclass
class Ride:
    kind: RideKind
    source: str  # the original's name, or the file
    fps: float
    duration_s: float
    door_close_s: float
    first_ebike_s: float | None  # truth: the first frame with the bike in it; None without one
    seed: int
    mirrored: bool = False
    _views: list[tuple[np.ndarray, int, bool | None]] = field(default_factory=list, repr=False)  # image, frames, truth
    _video: tuple[str, float] | None = field(default=None, repr=False)  # path, source fps
    group: str | None = None  # the kind of a folder's scene (eval --negatives / --positives); None otherwise

    @property
    def has_ebike(self) -> bool | None:
        return None if self.kind == "unknown" else self.kind == "positive"

    @property
    def n_frames(self) -> int:
        return round(self.duration_s * self.fps)

    def frames(self) -> Iterator[RideFrame]:
        """The ride's frames; the same seed gives the same bytes."""
        rng = np.random.default_rng(self.seed)
        index = 0
        if self._video is not None:
            for image in _video_frames(*self._video, self.fps):
                yield self._frame(index, _encode(image, 90), None)
                index += 1
            return
        for image, count, truth in self._views:
            camera = Camera(image.shape[:2], rng)
            for _ in range(count):
                yield self._frame(index, camera.shoot(image), truth)
                index += 1

    def __post_init__(self) -> None:
        # A short ride still shows the door closing: by its last frame at the latest.
        self.door_close_s = min(self.door_close_s, max(self.duration_s - 1.0 / self.fps, 0.0))

    def _frame(self, index: int, jpeg: bytes, truth: bool | None) -> RideFrame:
        t = round(index / self.fps, 6)
        return RideFrame(t, jpeg, truth, "open" if t < self.door_close_s else "closed")


class Camera:
    """Per-frame realism: shift and zoom of a few %, gain and offset, sensor noise, JPEG re-encode."""

    def __init__(self, hw: tuple[int, int], rng: np.random.Generator, noise_fields: int = 3) -> None:
        self.rng = rng
        # Noise drawn once per view and reused with random sign: a fresh field per frame costs more than the detector.
        self.noise = [rng.integers(-6, 7, size=(*hw, 3), dtype=np.int16) for _ in range(noise_fields)]

    def shoot(self, image: np.ndarray) -> bytes:
        rng = self.rng
        h, w = image.shape[:2]
        scale = 1.0 + rng.uniform(-0.03, 0.03)
        tx, ty = rng.uniform(-0.02, 0.02) * w, rng.uniform(-0.02, 0.02) * h
        matrix = np.float32([[scale, 0, (1 - scale) * w / 2 + tx], [0, scale, (1 - scale) * h / 2 + ty]])
        out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        noise = self.noise[int(rng.integers(len(self.noise)))] * (1 if rng.random() < 0.5 else -1)
        out = cv2.addWeighted(out, rng.uniform(0.85, 1.15), out, 0.0, rng.uniform(-12, 12))  # saturating gain, offset
        out = cv2.add(out, noise, dtype=cv2.CV_8U)
        return _encode(out, int(rng.integers(70, 91)))


def _encode(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _overlaps(rect: tuple[int, int, int, int], boxes: tuple[Box, ...]) -> bool:
    x, y, w, h = rect
    return any(x < bx2 and bx1 < x + w and y < by2 and by1 < y + h for bx1, by1, bx2, by2 in boxes)


def clean_crop(hw: tuple[int, int], boxes: tuple[Box, ...], aspect: float | tuple[float, float],
               rng: np.random.Generator, min_share: float = MIN_CROP_SHARE,
               tries: int = 600) -> tuple[int, int, int, int] | None:
    """A crop (x, y, w, h) of width/height `aspect` (or drawn from a range), >= min_share of the image, touching
    no box; None if none is found."""
    height, width = hw
    for _ in range(tries):
        aspect_now = aspect if isinstance(aspect, float | int) else rng.uniform(*aspect)
        biggest = min(width, height * aspect_now) * min(height, width / aspect_now)
        if biggest < min_share * width * height:
            continue
        area = rng.uniform(min_share * width * height, biggest)
        cw = min(width, round(math.sqrt(area * aspect_now)))
        ch = min(height, round(cw / aspect_now))
        rect = (int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1)), cw, ch)
        if not _overlaps(rect, boxes):
            return rect
    return None


def paint_out(image: np.ndarray, boxes: tuple[Box, ...], margin: float = 0.06) -> np.ndarray:
    """The image with every box (and a small margin) filled in from its surroundings (cv2.inpaint)."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in boxes:
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        cv2.rectangle(mask, (int(x1 - mx), int(y1 - my)), (int(math.ceil(x2 + mx)), int(math.ceil(y2 + my))), 255, -1)
    # Inpainting at half size is 4x cheaper and the filled area is a smear either way.
    small = cv2.inpaint(cv2.resize(image, (w // 2, h // 2)), cv2.resize(mask, (w // 2, h // 2)), 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(small, (w, h))
    return np.where(mask[..., None] > 0, filled, image)


def crop_view(image: np.ndarray, rect: tuple[int, int, int, int], out_hw: tuple[int, int]) -> np.ndarray:
    x, y, w, h = rect
    return cv2.resize(image[y:y + h, x:x + w], (out_hw[1], out_hw[0]), interpolation=cv2.INTER_AREA)


def _frames(seconds: float, fps: float) -> int:
    return max(1, round(seconds * fps))


@dataclass(frozen=True)
class RideSpec:
    fps: float = 5.0
    ride_s: float = 20.0  # how long the bike (or the negative scene) is in view
    before_s: tuple[float, float] = (1.0, 3.0)  # clean frames before the bike comes in
    door_after_s: tuple[float, float] = (2.0, 4.0)  # the door closes this long after the bike came in
    negative_door_s: tuple[float, float] = (3.0, 6.0)


def positive_ride(still: Still, spec: RideSpec, seed: int) -> Ride:
    """Before: the same scene without the bike (a clean crop at the image's own aspect, else painted out)."""
    assert still.ebike_boxes, "a positive ride needs an e-bike box"
    rng = np.random.default_rng(seed)
    image = still.load()
    mirrored = bool(rng.random() < 0.5)
    h, w = image.shape[:2]
    rect = clean_crop((h, w), still.ebike_boxes, w / h, rng)
    before = crop_view(image, rect, (h, w)) if rect else paint_out(image, still.ebike_boxes)
    if mirrored:
        image, before = cv2.flip(image, 1), cv2.flip(before, 1)
    n_before = _frames(rng.uniform(*spec.before_s), spec.fps)
    n_bike = _frames(spec.ride_s, spec.fps)
    first = n_before / spec.fps
    door = first + rng.uniform(*spec.door_after_s)
    return Ride("positive", still.name, spec.fps, (n_before + n_bike) / spec.fps, door, first, seed, mirrored,
                [(before, n_before, False), (image, n_bike, True)])


def negative_ride(still: Still, kind: RideKind, spec: RideSpec, seed: int) -> Ride | None:
    """A `crop` (16:9, touching no e-bike box) or `inpaint` ride of one still; None when it has none to give."""
    rng = np.random.default_rng(seed)
    boxes = still.ebike_boxes or ()
    image = still.load()
    if kind == "crop":
        rect = clean_crop(image.shape[:2], boxes, CROP_ASPECTS, rng)
        if rect is None:
            return None
        view = crop_view(image, rect, CAMERA_HW)
    elif kind == "inpaint":
        if not boxes:
            return None
        view = paint_out(image, boxes)
    else:
        raise ValueError(f"not a negative kind: {kind}")
    mirrored = bool(rng.random() < 0.5)
    if mirrored:
        view = cv2.flip(view, 1)
    n = _frames(spec.ride_s, spec.fps)
    return Ride(kind, still.name, spec.fps, n / spec.fps, rng.uniform(*spec.negative_door_s), None, seed, mirrored,
                [(view, n, False)])


def unknown_ride(still: Still, spec: RideSpec, seed: int) -> Ride:
    n = _frames(spec.ride_s, spec.fps)
    rng = np.random.default_rng(seed)
    return Ride("unknown", still.path.name, spec.fps, n / spec.fps, rng.uniform(*spec.negative_door_s), None, seed,
                False, [(still.load(), n, None)])


def video_ride(path: str, spec: RideSpec, seed: int) -> Ride:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f"cannot open video {path}")
    source_fps = capture.get(cv2.CAP_PROP_FPS) or spec.fps
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    capture.release()
    duration = count / source_fps if count > 0 else spec.ride_s
    rng = np.random.default_rng(seed)
    return Ride("unknown", path, spec.fps, duration, rng.uniform(*spec.negative_door_s), None, seed,
                _video=(path, source_fps))


def _video_frames(path: str, source_fps: float, fps: float) -> Iterator[np.ndarray]:
    """The video's frames at `fps` (the nearest source frame to each tick)."""
    capture = cv2.VideoCapture(path)
    try:
        index, next_tick = 0, 0.0
        while True:
            ok, image = capture.read()
            if not ok:
                return
            if index / source_fps + 1e-9 >= next_tick:
                next_tick += 1.0 / fps
                yield image
            index += 1
    finally:
        capture.release()


def ride_plan(source: Source, spec: RideSpec, seed: int, start: int = 0) -> Iterator[Ride]:
    """An endless sequence of rides for a simulator: per still in turn positive, crop, positive, inpaint."""
    if source.kind == "video":
        i = 0
        while True:
            yield video_ride(str(source.path), spec, seed * 1_000_003 + i)
            i += 1
    stills = source.stills
    if not stills:
        raise ValueError(f"no images in {source.path}")
    cycle: tuple[RideKind, ...] = ("positive", "crop", "positive", "inpaint")
    i, barren = start, 0
    while True:
        if barren > len(stills) * len(cycle):
            raise ValueError(f"no ride can be made from {source.path}")
        still = stills[i % len(stills)]
        kind = cycle[(i // len(stills)) % len(cycle)]
        ride_seed = seed * 1_000_003 + i
        i += 1
        if still.ebike_boxes is None:
            barren = 0
            yield unknown_ride(still, spec, ride_seed)
        elif kind == "positive" and still.ebike_boxes:
            barren = 0
            yield positive_ride(still, spec, ride_seed)
        else:
            ride = negative_ride(still, "crop" if kind == "positive" else kind, spec, ride_seed)
            if ride is None and kind != "crop":
                ride = negative_ride(still, "crop", spec, ride_seed)
            barren = 0 if ride is not None else barren + 1
            if ride is not None:
                yield ride
