"""ONNX Runtime detector: letterbox, run, decode, class-aware NMS, boxes back to source pixels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import onnxruntime as ort

from models.vision.decode import Candidates, decode_ultralytics, decode_yolox
from models.vision.letterbox import LetterboxTransform, letterbox
from models.vision.nms import batched_nms
from models.vision.types import Detections

Kind = Literal["yolox", "ultralytics"]


@dataclass(frozen=True)
class _Preprocess:
    center: bool  # ultralytics pads both sides; YOLOX was trained with the image at the top-left
    scale: float  # ultralytics wants 0-1, YOLOX 0-255
    rgb: bool  # ultralytics feeds RGB; YOLOX's own preproc feeds cv2.imread's BGR as is


_PREPROCESS: dict[str, _Preprocess] = {
    # BGR for YOLOX, though weights/README.md says RGB: YOLOX's demo passes cv2.imread's array unswapped, and on
    # the 28 e-bike originals BGR finds more labelled people (22 vs 20 of 27) and bikes (13 vs 11 of 32).
    "yolox": _Preprocess(center=False, scale=1.0, rgb=False),
    "ultralytics": _Preprocess(center=True, scale=1.0 / 255.0, rgb=True),
}


@dataclass
class StageTimes:
    """Seconds spent in each stage of the last detect(); the bench reads it, the edge may export it."""

    letterbox: float = 0.0
    infer: float = 0.0
    decode_nms: float = 0.0


def session_options(threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # Spinning threads burn the core the MQTT client and rules need; FACTS.md: 18.2 vs 25.3 ms when busy.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    # ENABLE_ALL includes the NCHWc conv layout: 37 ms a frame here against 46 at EXTENDED (bench/ebike_stages.py
    # --options). Sequential is the default; stated, since a parallel executor would want inter-op threads.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


class OnnxDetector:
    def __init__(
        self,
        model_path: str | Path,
        *,
        kind: Kind,
        class_names: tuple[str, ...] | list[str],
        input_hw: tuple[int, int] | None = None,
        conf: float = 0.25,
        iou: float = 0.45,
        threads: int = 1,
    ) -> None:
        if kind not in _PREPROCESS:
            raise ValueError(f"kind must be one of {sorted(_PREPROCESS)}, got {kind!r}")
        if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
            raise ValueError("conf and iou must be in [0, 1]")
        self.kind: Kind = kind
        self._class_names = tuple(class_names)
        self.conf, self.iou = conf, iou
        self.session = ort.InferenceSession(
            str(model_path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
        model_input = self.session.get_inputs()[0]
        self._input_name = model_input.name
        self.input_hw = self._resolve_input_hw(model_input.shape, input_hw)
        self.times = StageTimes()

    @staticmethod
    def _resolve_input_hw(shape: list, given: tuple[int, int] | None) -> tuple[int, int]:
        static = tuple(shape[2:4]) if len(shape) == 4 and all(isinstance(d, int) for d in shape[2:4]) else None
        if given is not None:
            given = (int(given[0]), int(given[1]))
            if static is not None and static != given:
                raise ValueError(f"input_hw {given} does not match the model's static input {static}")
            return given
        if static is None:
            raise ValueError(f"the model's input {shape} is dynamic: pass input_hw")
        return static  # type: ignore[return-value]

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, LetterboxTransform]:
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) BGR image, got {image_bgr.shape}")
        prep = _PREPROCESS[self.kind]
        boxed, transform = letterbox(image_bgr, self.input_hw, center=prep.center)
        if prep.rgb:
            boxed = cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB)
        blob = boxed.transpose(2, 0, 1)[None].astype(np.float32)
        if prep.scale != 1.0:
            blob *= prep.scale
        return np.ascontiguousarray(blob), transform

    def decode(self, output: np.ndarray) -> Candidates:
        if self.kind == "yolox":
            return decode_yolox(output, self.input_hw, self.conf)
        return decode_ultralytics(output, self.conf)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        t0 = time.perf_counter()
        blob, transform = self.preprocess(image_bgr)
        t1 = time.perf_counter()
        (output,) = self.session.run(None, {self._input_name: blob})[:1]
        t2 = time.perf_counter()
        cand = self.decode(output)
        if cand.class_ids.size and cand.class_ids.max() >= len(self._class_names):
            raise ValueError(f"the model emits {output.shape} scores but {len(self._class_names)} class names given")
        keep = batched_nms(cand.xyxy, cand.scores, cand.class_ids, self.iou)
        result = Detections(transform.to_source(cand.xyxy[keep]), cand.scores[keep], cand.class_ids[keep],
                            self._class_names)
        self.times = StageTimes(letterbox=t1 - t0, infer=t2 - t1, decode_nms=time.perf_counter() - t2)
        return result
