"""Camera frames: JPEG bytes -> image, and the latest-frame-wins slot between MQTT and the detector."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

import cv2
import numpy as np

T = TypeVar("T")

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"


class FrameError(ValueError):
    """A frame that cannot be used; `reason` is short and goes into the dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# A decoder allocates what the frame header declares: a 631-byte JPEG declaring 30000x30000 took 12 s and
# 2.7 GB. Cameras send 1280x720 to 3840x2160; 4096x4096 leaves room and refuses the rest before decoding.
MAX_FRAME_PIXELS = 4096 * 4096
MAX_FRAME_SIDE = 8192
# SOF0-SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frame headers.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) as the JPEG's frame header (SOF) declares them, read without decoding anything."""
    if not data:
        raise FrameError("empty frame")
    if not data.startswith(JPEG_SOI):
        raise FrameError(f"not a JPEG (starts with {bytes(data[:4]).hex()})")
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            raise FrameError(f"corrupt JPEG (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            raise FrameError(f"corrupt JPEG (segment length {length} at byte {pos})")
        if marker in _SOF:
            if pos + 9 > end:
                break
            height = int.from_bytes(data[pos + 5:pos + 7], "big")
            width = int.from_bytes(data[pos + 7:pos + 9], "big")
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            raise FrameError("corrupt JPEG (no frame header before the scan)")
        pos += 2 + length
    raise FrameError(f"corrupt JPEG ({len(data)} bytes, no frame header)")


def check_jpeg_size(data: bytes, max_pixels: int = MAX_FRAME_PIXELS) -> tuple[int, int]:
    """The declared size, or FrameError when it is zero or over the caps (before any decoder allocates it)."""
    width, height = jpeg_size(data)
    if width == 0 or height == 0:
        raise FrameError(f"JPEG declares {width}x{height} (a zero side is not supported)")
    if width * height > max_pixels or max(width, height) > MAX_FRAME_SIDE:
        raise FrameError(f"JPEG declares {width}x{height}: over the limit of {max_pixels} pixels "
                         f"and {MAX_FRAME_SIDE} a side; not decoded")
    return width, height


def decode_jpeg(data: bytes, *, reduce: int = 1, max_pixels: int = MAX_FRAME_PIXELS) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 BGR. reduce=2/4/8 decodes at that fraction of the size, faster (FACTS.md).
    A frame whose header declares more than `max_pixels` is refused before decoding."""
    if not data:
        raise FrameError("empty frame")
    if not data.startswith(JPEG_SOI):
        raise FrameError(f"not a JPEG (starts with {bytes(data[:4]).hex()})")
    check_jpeg_size(data, max_pixels)
    # libjpeg fills a cut-off frame with grey and only warns; a half-grey frame must not reach the detector.
    if not data.rstrip(b"\x00").endswith(JPEG_EOI):
        raise FrameError(f"truncated JPEG ({len(data)} bytes, no end marker)")
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}
    if reduce not in flags:
        raise ValueError(f"reduce must be one of {sorted(flags)}")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags[reduce])
    if image is None or image.size == 0:
        raise FrameError(f"corrupt JPEG ({len(data)} bytes)")
    return image


@dataclass(frozen=True)
class SlotStats:
    put: int
    taken: int
    skipped: int  # replaced before anyone took them: the detector was slower than the camera


class LatestFrameSlot(Generic[T]):
    """Holds at most one item. put() replaces an unconsumed item (and counts it skipped); get() blocks.

    A queue would let a slow detector fall ever further behind the camera; this slot keeps it on the newest
    frame, which is what an alert about the car *now* needs.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._put = self._taken = self._skipped = 0

    def put(self, item: T) -> bool:
        """Returns True when an unconsumed item was dropped to make room."""
        with self._cond:
            dropped = self._full
            self._item, self._full = item, True
            self._put += 1
            self._skipped += dropped
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item, or None on timeout or once closed and empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._full and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self._taken += 1
            return item

    def close(self) -> None:
        """Wakes every waiting get(); the consumer thread can then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def stats(self) -> SlotStats:
        with self._cond:
            return SlotStats(self._put, self._taken, self._skipped)
