"""JPEG frame headers read before decoding: a frame that declares too many pixels is refused in microseconds,
never handed to a decoder that would allocate what it declares (a 631-byte file declaring 30000x30000
took 12 s and 2.7 GB)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.vision.frames import MAX_FRAME_PIXELS, FrameError, check_jpeg_size, decode_jpeg, jpeg_size


def small_jpeg(width: int = 64, height: int = 48) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def declaring(width: int, height: int, base: bytes | None = None) -> bytes:
    """A real JPEG whose frame header is rewritten to declare width x height: the decompression bomb."""
    data = bytearray(base or small_jpeg())
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    data[pos + 5:pos + 7] = height.to_bytes(2, "big")
    data[pos + 7:pos + 9] = width.to_bytes(2, "big")
    return bytes(data)


def test_the_declared_size_is_read_from_the_frame_header() -> None:
    assert jpeg_size(small_jpeg(1280, 720)) == (1280, 720)
    assert jpeg_size(declaring(30000, 30000)) == (30000, 30000)


@pytest.mark.parametrize(("width", "height"), [(30000, 30000), (65535, 65535), (8193, 100), (4097, 4097)])
def test_a_bomb_is_refused_before_decoding_with_a_clear_reason(width: int, height: int) -> None:
    bomb = declaring(width, height)
    assert len(bomb) < 1000
    started = time.perf_counter()
    with pytest.raises(FrameError, match=f"declares {width}x{height}"):
        decode_jpeg(bomb)
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize(("data", "word"), [
    (b"", "empty"),
    (b"\xff\xd8", "no frame header"),
    (b"\xff\xd8\xff\xda\x00\x02", "before the scan"),
    (b"\xff\xd8\xff\xe0\x00\x01", "segment length"),
    (b"\xff\xd8\x00\x00\x00\x00", "no marker"),
    (declaring(0, 720), "zero side"),
])
def test_broken_headers_are_frame_errors(data: bytes, word: str) -> None:
    with pytest.raises(FrameError, match=word):
        check_jpeg_size(data)


def test_a_4k_frame_is_within_the_cap() -> None:
    assert check_jpeg_size(small_jpeg(3840, 2160)) == (3840, 2160)
    assert 3840 * 2160 <= MAX_FRAME_PIXELS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_no_bytes_crash_the_header_reader_or_the_decoder(tail: bytes) -> None:
    for data in (tail, b"\xff\xd8" + tail, small_jpeg()[:20] + tail):
        try:
            check_jpeg_size(data)
            decode_jpeg(data)
        except FrameError:
            pass
