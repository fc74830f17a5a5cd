"""Raw network outputs -> candidate boxes in input pixels, before NMS. One function per export format."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Boxes (xyxy, input pixels) with their best class and its score, already above the threshold."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray


def _cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1).astype(np.float32)


def _best_class(xyxy: np.ndarray, class_scores: np.ndarray, conf: float) -> Candidates:
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(class_scores)), class_ids]
    keep = scores >= conf
    return Candidates(xyxy[keep], scores[keep].astype(np.float32), class_ids[keep].astype(np.int64))


@lru_cache(maxsize=8)
def yolox_grid(input_hw: tuple[int, int], strides: tuple[int, ...] = (8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets (A, 2) and the stride of each cell (A, 1), in YOLOX's order: stride by stride, row-major."""
    grids, cell_strides = [], []
    for s in strides:
        gh, gw = input_hw[0] // s, input_hw[1] // s
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        cell_strides.append(np.full((gh * gw, 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(cell_strides).astype(np.float32)


def decode_yolox(output: np.ndarray, input_hw: tuple[int, int], conf: float,
                 strides: tuple[int, ...] = (8, 16, 32)) -> Candidates:
    """YOLOX export without its decode: (1, A, 5 + nc) of (x, y, log w, log h, obj, cls...) per grid cell.

    Box centre = (x + cell) * stride, size = exp(log wh) * stride, score = obj * cls (both already sigmoid).
    """
    pred = np.asarray(output, dtype=np.float32).reshape(-1, output.shape[-1])
    grid, stride = yolox_grid(tuple(input_hw), tuple(strides))
    if len(pred) != len(grid):
        raise ValueError(f"YOLOX output has {len(pred)} cells, a {input_hw} input with strides {strides} has "
                         f"{len(grid)}")
    # Cheap objectness gate first: obj * cls <= obj, so cells below conf on objectness can never pass.
    live = pred[:, 4] >= conf
    pred, grid, stride = pred[live], grid[live], stride[live]
    centre = (pred[:, :2] + grid) * stride
    size = np.exp(np.minimum(pred[:, 2:4], 10.0)) * stride  # clamp: an untrained cell must not overflow
    xyxy = _cxcywh_to_xyxy(np.concatenate([centre, size], axis=1))
    return _best_class(xyxy, pred[:, 5:] * pred[:, 4:5], conf)


def decode_ultralytics(output: np.ndarray, conf: float) -> Candidates:
    """ultralytics YOLOv8 / v5u / 11 detect export: (1, 4 + nc, A) of (cx, cy, w, h) in input pixels
    and per-class scores already through a sigmoid; no objectness."""
    out = np.asarray(output, dtype=np.float32)
    if out.ndim == 3:
        if out.shape[0] != 1:
            raise ValueError(f"batch of {out.shape[0]}; decode one image at a time")
        out = out[0]
    if out.ndim != 2 or out.shape[0] < 5:
        raise ValueError(f"expected (1, 4 + nc, A), got {np.shape(output)}")
    pred = out.T  # (A, 4 + nc)
    class_scores = pred[:, 4:]
    live = class_scores.max(axis=1) >= conf
    pred = pred[live]
    return _best_class(_cxcywh_to_xyxy(pred[:, :4]), pred[:, 4:], conf)
