"""JPEG frames and the latest-frame-wins slot."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.vision.frames import FrameError, LatestFrameSlot, decode_jpeg
from tests.models.vision_helpers import originals


@pytest.fixture
def jpeg(shared_dir: Path) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.imread(str(originals(shared_dir)[0])), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def test_decodes_a_real_frame(jpeg: bytes, shared_dir: Path) -> None:
    image = decode_jpeg(jpeg)
    assert image.shape == cv2.imread(str(originals(shared_dir)[0])).shape
    assert image.dtype == np.uint8


def test_reduced_decode_halves_the_size(jpeg: bytes) -> None:
    full, half = decode_jpeg(jpeg), decode_jpeg(jpeg, reduce=2)
    assert half.shape[:2] == ((full.shape[0] + 1) // 2, (full.shape[1] + 1) // 2)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda b: b"", "empty"),
        (lambda b: b"\x89PNG\r\n\x1a\n" + b[8:], "not a JPEG"),
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:2] + b"\x00" * (len(b) - 4) + b[-2:], "corrupt"),
        (lambda b: b[:2] + b[-2:], "corrupt"),
    ],
    ids=["empty", "png", "truncated", "zeroed", "no-body"],
)
def test_bad_frames_raise_frame_error_with_a_reason(jpeg: bytes, mangle, reason: str) -> None:
    with pytest.raises(FrameError, match=reason) as info:
        decode_jpeg(mangle(jpeg))
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)  # callers that catch ValueError still dead-letter it


def test_slot_keeps_only_the_newest_and_counts_the_skipped() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.get(timeout=0) == 3
    assert slot.get(timeout=0.01) is None
    stats = slot.stats
    assert (stats.put, stats.taken, stats.skipped) == (3, 1, 2)


def test_get_blocks_until_a_frame_arrives() -> None:
    slot: LatestFrameSlot[str] = LatestFrameSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    started = time.monotonic()
    assert slot.get(timeout=5) == "frame"
    assert 0.03 < time.monotonic() - started < 2


def test_get_times_out() -> None:
    started = time.monotonic()
    assert LatestFrameSlot().get(timeout=0.05) is None
    assert time.monotonic() - started >= 0.05


def test_close_wakes_a_waiting_consumer() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    threading.Timer(0.05, slot.close).start()
    assert slot.get() is None


def test_slow_consumer_stays_on_the_newest_frame() -> None:
    """A camera at ~1 kHz, a detector taking 10 ms: the detector sees recent frames, never a backlog."""
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    stop = threading.Event()
    sent: list[int] = []

    def camera() -> None:
        n = 0
        while not stop.is_set():
            sent.append(n)
            slot.put(n)
            n += 1
            time.sleep(0.001)

    producer = threading.Thread(target=camera)
    producer.start()
    seen = []
    for _ in range(10):
        frame = slot.get(timeout=2)
        assert frame is not None
        seen.append(frame)
        assert sent[-1] - frame <= 20  # lag is bounded by one detector cycle, not by how long we have run
        time.sleep(0.01)
    stop.set()
    producer.join()
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert slot.stats.skipped > 0
