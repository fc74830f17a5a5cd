"""The ultralytics backend behind the edge's Detector interface: for parity tests and `gridwatch model`.

Needs the `train` extra (torch); the edge's default backend is ONNX Runtime (onnx_detector.py). It loads a .pt
or an exported .onnx with ultralytics' own pre- and post-processing, which is what the parity test holds
OnnxDetector to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.vision.types import Detections


class UltralyticsDetector:
    def __init__(
        self,
        model_path: str | Path,
        *,
        class_names: tuple[str, ...] | list[str] | None = None,
        input_hw: tuple[int, int] | None = None,
        conf: float = 0.25,
        iou: float = 0.45,
        device: str = "cpu",
    ) -> None:
        from models.training.environment import offline_ultralytics

        offline_ultralytics()
        from ultralytics import YOLO  # imported here: the edge never pays for torch

        self.model = YOLO(str(model_path), task="detect")
        names = self.model.names
        self._class_names = tuple(class_names) if class_names else tuple(str(names[i]) for i in sorted(names))
        self.input_hw = input_hw
        self.conf, self.iou, self.device = conf, iou, device

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    def detect(self, image_bgr: np.ndarray) -> Detections:
        kwargs = {"imgsz": list(self.input_hw)} if self.input_hw else {}
        (result,) = self.model.predict(
            image_bgr, conf=self.conf, iou=self.iou, device=self.device, verbose=False, **kwargs
        )
        boxes = result.boxes
        return Detections(
            boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(np.int64),
            self._class_names,
        )
