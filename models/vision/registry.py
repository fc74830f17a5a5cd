"""Detector backends by config key (Frigate's detector_types): a new backend is one file and one line here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.vision.detector import Detector
from models.vision.onnx_detector import OnnxDetector

DETECTORS: dict[str, Callable[..., Detector]] = {
    "onnx": OnnxDetector,
}


def create_detector(backend: str, **options: Any) -> Detector:
    try:
        factory = DETECTORS[backend]
    except KeyError:
        raise ValueError(f"unknown detector backend {backend!r}; known: {sorted(DETECTORS)}") from None
    return factory(**options)
