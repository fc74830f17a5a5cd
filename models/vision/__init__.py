"""Vision at the edge: ONNX Runtime detectors with their own letterbox, decode and NMS (no torch)."""

from models.vision.detector import Detector
from models.vision.frames import FrameError, LatestFrameSlot, decode_jpeg
from models.vision.onnx_detector import OnnxDetector
from models.vision.registry import DETECTORS, create_detector
from models.vision.types import Detections

__all__ = [
    "DETECTORS",
    "Detections",
    "Detector",
    "FrameError",
    "LatestFrameSlot",
    "OnnxDetector",
    "create_detector",
    "decode_jpeg",
]
