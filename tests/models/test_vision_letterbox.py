"""Letterbox: aspect kept, padding where expected, boxes round-trip to source pixels."""

from __future__ import annotations

import numpy as np
import pytest

from models.vision.letterbox import PAD_VALUE, letterbox

# (source hw, target hw, center, expected scale, expected (pad_x, pad_y))
CASES = [
    ((720, 1280), (192, 320), True, 0.25, (0.0, 6.0)),  # 16:9 camera at the recommended 16:9-ish export
    ((720, 1280), (416, 416), False, 0.325, (0.0, 0.0)),  # YOLOX: top-left, pad right and bottom only
    ((720, 1280), (416, 416), True, 0.325, (0.0, 91.0)),
    ((1080, 1920), (384, 640), True, 1 / 3, (0.0, 12.0)),
    ((480, 640), (192, 320), True, 0.4, (32.0, 0.0)),  # 4:3 into 16:9-ish: pillarbox
    ((100, 100), (320, 320), True, 3.2, (0.0, 0.0)),  # upscaling
    ((192, 320), (192, 320), True, 1.0, (0.0, 0.0)),  # already the right size
]


@pytest.mark.parametrize(("source_hw", "target_hw", "center", "scale", "pad"), CASES)
def test_letterbox_keeps_aspect_and_pads(source_hw, target_hw, center, scale, pad) -> None:
    image = np.random.default_rng(0).integers(0, 255, (*source_hw, 3), dtype=np.uint8)
    out, t = letterbox(image, target_hw, center=center)
    assert out.shape == (*target_hw, 3)
    assert out.dtype == np.uint8
    assert t.scale == pytest.approx(scale)
    assert (t.pad_x, t.pad_y) == pad
    if pad[1]:  # padded rows are the pad value
        assert (out[0] == PAD_VALUE).all() and (out[-1] == PAD_VALUE).all()
    if not center and out.shape[0] > round(source_hw[0] * scale):
        assert (out[-1] == PAD_VALUE).all() and not (out[0] == PAD_VALUE).all()


@pytest.mark.parametrize(("source_hw", "target_hw", "center", "scale", "pad"), CASES)
def test_boxes_round_trip(source_hw, target_hw, center, scale, pad) -> None:
    h, w = source_hw
    boxes = np.array([[0, 0, w, h], [10.5, 20.25, 100, 90], [w / 2, h / 3, w - 1, h - 1]], np.float32)
    _, t = letterbox(np.zeros((*source_hw, 3), np.uint8), target_hw, center=center)
    in_input = t.to_input(boxes)
    assert in_input[:, [0, 2]].min() >= 0 and in_input[:, [0, 2]].max() <= target_hw[1] + 1e-3
    assert in_input[:, [1, 3]].min() >= 0 and in_input[:, [1, 3]].max() <= target_hw[0] + 1e-3
    np.testing.assert_allclose(t.to_source(in_input), boxes, atol=1e-3)


def test_to_source_clips_boxes_that_run_into_the_padding() -> None:
    _, t = letterbox(np.zeros((720, 1280, 3), np.uint8), (192, 320))  # 6 px of padding top and bottom
    back = t.to_source(np.array([[-5, 0, 330, 192]], np.float32))
    np.testing.assert_allclose(back, [[0, 0, 1280, 720]])


def test_letterbox_is_pure() -> None:
    image = np.full((50, 80, 3), 7, np.uint8)
    letterbox(image, (64, 64))
    assert (image == 7).all()


def test_empty_image_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        letterbox(np.zeros((0, 10, 3), np.uint8), (32, 32))
