"""Decoders from raw outputs to candidates, on hand-made outputs whose answer is known.

No ultralytics model exists yet and `onnx` is not installed to build one, so the ultralytics decoder is
held to hand-made (1, 4 + nc, A) arrays in the layout ultralytics documents for its detect export.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.vision.decode import decode_ultralytics, decode_yolox, yolox_grid


def _cell(gx: int, gy: int, stride: int, hw=(416, 416)) -> int:
    """Row index of a grid cell in YOLOX's output: all stride-8 cells, then 16, then 32, each row-major."""
    offset = 0
    for s in (8, 16, 32):
        gh, gw = hw[0] // s, hw[1] // s
        if s == stride:
            return offset + gy * gw + gx
        offset += gh * gw
    raise ValueError(stride)


def test_yolox_grid_matches_the_model_output_length() -> None:
    grid, strides = yolox_grid((416, 416))
    assert len(grid) == 3549 == 52 * 52 + 26 * 26 + 13 * 13
    assert len(yolox_grid((192, 320))[0]) == 24 * 40 + 12 * 20 + 6 * 10
    i = _cell(3, 2, 16)
    assert grid[i].tolist() == [3, 2] and strides[i, 0] == 16


@pytest.mark.parametrize(
    ("gx", "gy", "stride", "raw", "obj", "cls", "expected_xyxy"),
    [
        (10, 5, 8, (0.5, 0.5, np.log(4), np.log(2)), 0.9, {1: 0.8}, [84 - 16, 44 - 8, 84 + 16, 44 + 8]),
        (0, 0, 32, (0.0, 0.0, 0.0, 0.0), 1.0, {0: 0.5}, [-16, -16, 16, 16]),
        (12, 12, 32, (0.5, 0.25, np.log(3), 0.0), 0.6, {3: 0.9, 1: 0.5}, [400 - 48, 392 - 16, 400 + 48, 392 + 16]),
    ],
)
def test_yolox_decodes_one_cell(gx, gy, stride, raw, obj, cls, expected_xyxy) -> None:
    out = np.zeros((1, 3549, 85), np.float32)
    row = _cell(gx, gy, stride)
    out[0, row, :4] = raw
    out[0, row, 4] = obj
    for c, s in cls.items():
        out[0, row, 5 + c] = s
    cand = decode_yolox(out, (416, 416), conf=0.25)
    best = max(cls, key=cls.get)
    assert cand.class_ids.tolist() == [best]
    assert cand.scores[0] == pytest.approx(obj * cls[best])  # obj * cls
    np.testing.assert_allclose(cand.xyxy[0], expected_xyxy, atol=1e-4)


def test_yolox_score_is_objectness_times_class() -> None:
    out = np.zeros((1, 3549, 85), np.float32)
    out[0, 0, 4], out[0, 0, 5] = 0.9, 0.2  # 0.18 < 0.25 although both factors are not tiny
    out[0, 1, 4], out[0, 1, 5] = 0.5, 0.6  # 0.30
    cand = decode_yolox(out, (416, 416), conf=0.25)
    assert cand.scores.tolist() == pytest.approx([0.3])


def test_yolox_refuses_the_wrong_grid() -> None:
    with pytest.raises(ValueError, match="3549"):
        decode_yolox(np.zeros((1, 3549, 85), np.float32), (192, 320), conf=0.25)


def test_yolox_survives_huge_log_sizes() -> None:
    out = np.zeros((1, 3549, 85), np.float32)
    out[0, 0, 2:6] = (500.0, 500.0, 1.0, 1.0)
    cand = decode_yolox(out, (416, 416), conf=0.25)
    assert np.isfinite(cand.xyxy).all()


def test_ultralytics_decodes_cxcywh_and_takes_the_best_class() -> None:
    # (1, 4 + 2, 3): anchors as columns; class 0 = ebike, 1 = person
    out = np.array(
        [[
            [100, 50, 10],  # cx
            [80, 40, 10],  # cy
            [40, 20, 4],  # w
            [60, 10, 4],  # h
            [0.9, 0.1, 0.2],  # ebike
            [0.3, 0.7, 0.1],  # person
        ]],
        np.float32,
    )
    cand = decode_ultralytics(out, conf=0.25)
    assert cand.class_ids.tolist() == [0, 1]  # the third anchor is below conf on every class
    assert cand.scores.tolist() == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(cand.xyxy, [[80, 50, 120, 110], [40, 35, 60, 45]])


def test_ultralytics_shape_errors() -> None:
    with pytest.raises(ValueError, match="batch"):
        decode_ultralytics(np.zeros((2, 6, 10), np.float32), conf=0.25)
    with pytest.raises(ValueError, match="4 \\+ nc"):
        decode_ultralytics(np.zeros((1, 4, 10), np.float32), conf=0.25)


def test_ultralytics_nothing_above_conf() -> None:
    cand = decode_ultralytics(np.full((1, 84, 2100), 0.01, np.float32), conf=0.25)
    assert cand.xyxy.shape == (0, 4) and cand.scores.shape == (0,)
