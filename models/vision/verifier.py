"""The crop verifier: a second look at each e-bike candidate, a small CNN on the box's pixels alone.

The detector sees a whole frame at 192x320, where a wheelchair, a bicycle or a suitcase on castors is a few
dozen pixels of "something wheeled"; the verifier sees just the box, grown a little for context, at 96x96. It
answers one question, e-bike or not, as a probability; the decision card fuses it with the detector's score.
`crops()` is the one definition of the crop, used by training (models/training/verifier.py) and here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from models.vision.onnx_detector import session_options

CROP_SIZE = 96
Box = tuple[float, float, float, float]


def crop_box(image_bgr: np.ndarray, box: Box, context: float, size: int = CROP_SIZE) -> np.ndarray:
    """The box grown by `context` of its size on each side, squared by grey padding, at size x size, RGB uint8."""
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    side = max(bw, bh) * (1 + 2 * context)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    sx1, sy1 = int(round(cx - side / 2)), int(round(cy - side / 2))
    sx2, sy2 = sx1 + max(int(round(side)), 1), sy1 + max(int(round(side)), 1)
    out = np.full((sy2 - sy1, sx2 - sx1, 3), 114, np.uint8)
    ix1, iy1, ix2, iy2 = max(sx1, 0), max(sy1, 0), min(sx2, w), min(sy2, h)
    if ix2 > ix1 and iy2 > iy1:
        out[iy1 - sy1:iy2 - sy1, ix1 - sx1:ix2 - sx1] = image_bgr[iy1:iy2, ix1:ix2]
    out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def crops(image_bgr: np.ndarray, boxes: Sequence[Box], context: float, size: int = CROP_SIZE) -> np.ndarray:
    """(n, 3, size, size) float32 in 0-1: the network's input for each box."""
    if not boxes:
        return np.zeros((0, 3, size, size), np.float32)
    batch = np.stack([crop_box(image_bgr, b, context, size) for b in boxes])
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


class CropVerifier:
    """ONNX Runtime on one thread; `probabilities()` of being an e-bike, one per box."""

    def __init__(self, path: str | Path, *, context: float = 0.15, threads: int = 1) -> None:
        self.path = Path(path)
        self.context = context
        self.session = ort.InferenceSession(str(self.path), sess_options=session_options(threads),
                                            providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        self._input = model_input.name
        size = model_input.shape[-1]
        self.size = size if isinstance(size, int) else CROP_SIZE

    def probabilities(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        if not boxes:
            return np.zeros(0, np.float32)
        (logits,) = self.session.run(None, {self._input: crops(image_bgr, boxes, self.context, self.size)})[:1]
        return (1.0 / (1.0 + np.exp(-logits.reshape(-1).astype(np.float64)))).astype(np.float32)
