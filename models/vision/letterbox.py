"""Resize keeping aspect, pad to the model's input, and map boxes back to source pixels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # what ultralytics and YOLOX pad with; a model trained on it expects it


@dataclass(frozen=True)
class LetterboxTransform:
    """Source -> input: x_in = x_src * scale + pad_x (same for y)."""

    scale: float
    pad_x: float
    pad_y: float
    source_hw: tuple[int, int]

    def to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """Input-pixel boxes back to source pixels, clipped to the source image."""
        out = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        h, w = self.source_hw
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        out = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
        out[:, [0, 2]] = out[:, [0, 2]] * self.scale + self.pad_x
        out[:, [1, 3]] = out[:, [1, 3]] * self.scale + self.pad_y
        return out


def letterbox(
    image: np.ndarray, target_hw: tuple[int, int], *, center: bool = True, pad_value: int = PAD_VALUE
) -> tuple[np.ndarray, LetterboxTransform]:
    """Fit `image` (H, W, C) into `target_hw` without distortion.

    center=True pads both sides (ultralytics); center=False pads only right and bottom, which is how
    YOLOX was trained (its preproc puts the image at the top-left corner).
    """
    th, tw = target_hw
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("empty image")
    scale = min(th / h, tw / w)
    nh, nw = min(th, round(h * scale)), min(tw, round(w * scale))
    resized = image if (nh, nw) == (h, w) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if center:
        top, left = (th - nh) // 2, (tw - nw) // 2
    else:
        top, left = 0, 0
    out = np.full((th, tw, *image.shape[2:]), pad_value, dtype=image.dtype)
    out[top : top + nh, left : left + nw] = resized
    return out, LetterboxTransform(scale=scale, pad_x=float(left), pad_y=float(top), source_hw=(h, w))
