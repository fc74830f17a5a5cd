"""Detector backends by config key (Frigate's detector_types): a new backend is one file and one line here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.vision.detector import Detector
from models.vision.onnx_detector import OnnxDetector


def _ultralytics(**options: Any) -> Detector:
    from models.vision.ultralytics_detector import UltralyticsDetector  # torch: only when asked for

    return UltralyticsDetector(**options)


DETECTORS: dict[str, Callable[..., Detector]] = {
    "onnx": OnnxDetector,
    "ultralytics": _ultralytics,  # needs the `train` extra; for parity checks and evaluation, not the edge
}


def create_detector(backend: str, **options: Any) -> Detector:
    try:
        factory = DETECTORS[backend]
    except KeyError:
        raise ValueError(f"unknown detector backend {backend!r}; known: {sorted(DETECTORS)}") from None
    return factory(**options)
