"""What the edge needs of any detector backend: a frame in, Detections out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from models.vision.types import Detections


@runtime_checkable
class Detector(Protocol):
    """A backend (ONNX Runtime today; OpenVINO or ultralytics later) is one class with these two members."""

    @property
    def class_names(self) -> tuple[str, ...]: ...

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Boxes in `image_bgr`'s own pixels (H, W, 3 uint8, OpenCV's BGR order)."""
        ...
