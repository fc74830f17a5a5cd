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


def decode_jpeg(data: bytes, *, reduce: int = 1) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 BGR. reduce=2/4/8 decodes at that fraction of the size, faster (FACTS.md)."""
    if not data:
        raise FrameError("empty frame")
    if not data.startswith(JPEG_SOI):
        raise FrameError(f"not a JPEG (starts with {bytes(data[:4]).hex()})")
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
