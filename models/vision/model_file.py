"""A model file -> a ready detector, its class names and input size read from the file itself.

ultralytics writes `names` ({0: 'ebike', ...}) and `imgsz` ([192, 320]) into the ONNX metadata at export, so
the edge needs no side file to know what a model detects; a foreign ONNX (YOLOX) must be told.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from models.vision.detector import Detector
from models.vision.registry import create_detector

# The e-bike model trained by this project (models/weights/README.md is its card).
DEFAULT_EBIKE_MODEL = Path(__file__).resolve().parents[1] / "weights" / "ebike.onnx"


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    kind: str  # "ultralytics" or "yolox"
    class_names: tuple[str, ...]
    input_hw: tuple[int, int] | None


def read_model_info(path: str | Path) -> ModelInfo:
    """What an ONNX file says about itself; ValueError when it is not an ultralytics export."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    if "names" not in meta:
        raise ValueError(f"{path}: no class names in the model's metadata; not an ultralytics export")
    names = ast.literal_eval(meta["names"])  # a dict literal written by ultralytics, never code
    class_names = tuple(str(names[i]) for i in sorted(names))
    imgsz = ast.literal_eval(meta["imgsz"]) if "imgsz" in meta else None
    input_hw = (int(imgsz[0]), int(imgsz[1])) if imgsz else None
    return ModelInfo(path, "ultralytics", class_names, input_hw)


def load_detector(
    path: str | Path | None = None, *, backend: str = "onnx", conf: float = 0.25, iou: float = 0.45,
    threads: int = 1,
) -> Detector:
    """The detector for an ultralytics-exported model (default: the project's e-bike model)."""
    info = read_model_info(path or DEFAULT_EBIKE_MODEL)
    options: dict = {"model_path": info.path, "class_names": info.class_names, "input_hw": info.input_hw,
                     "conf": conf, "iou": iou}
    if backend == "onnx":
        options.update(kind=info.kind, threads=threads)
    return create_detector(backend, **options)
