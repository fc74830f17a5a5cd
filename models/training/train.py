"""Fine-tune and export with ultralytics (the `train` extra). The edge never imports this module."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from models.training.environment import offline_ultralytics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    weights: Path  # last.pt: best.pt is picked by ultralytics on the val side, which is our held-out set
    seconds: float
    epochs: int
    metrics: dict[str, float]  # ultralytics' own figures on its val set, last epoch


def resolve_device(device: str) -> str:
    """'auto' -> the first CUDA GPU when torch sees one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def train(
    data_yaml: Path, out_dir: Path, *, weights: Path, epochs: int = 60, imgsz: int = 320, batch: int = 16,
    device: str = "auto", seed: int = 0, workers: int = 2, patience: int = 100, lr0: float | None = None,
    warmup_epochs: float = 3.0,
) -> TrainResult:
    offline_ultralytics()
    from ultralytics import YOLO

    device = resolve_device(device)
    out_dir = out_dir.resolve()
    started = time.monotonic()
    model = YOLO(str(weights))
    model.train(
        **_optimizer_args(lr0),
        data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, device=device, workers=workers, seed=seed,
        deterministic=True, patience=patience, warmup_epochs=warmup_epochs, project=str(out_dir.parent),
        name=out_dir.name, exist_ok=True, plots=False, verbose=False,
        amp=False,  # ultralytics' AMP check downloads weights; CPU training has no AMP anyway (FACTS.md)
    )
    # Ship the last epoch: choosing the "best" epoch by its score on the held-out originals would make their
    # figures a selection, not a test.
    last = out_dir / "weights" / "last.pt"
    metrics = _last_metrics(out_dir / "results.csv")
    return TrainResult(last, time.monotonic() - started, epochs, metrics)


def _optimizer_args(lr0: float | None) -> dict[str, object]:
    """ultralytics' optimizer='auto' ignores lr0 (AdamW at ~1.7e-3 on a set this small): a fine-tune that must
    not forget sets AdamW itself, with the bias warmup from zero as auto does, so lr0 is the peak rate."""
    if lr0 is None:
        return {"optimizer": "auto"}
    return {"optimizer": "AdamW", "lr0": lr0, "warmup_bias_lr": 0.0}


def _last_metrics(results_csv: Path) -> dict[str, float]:
    if not results_csv.is_file():
        return {}
    lines = [line.split(",") for line in results_csv.read_text().splitlines() if line.strip()]
    header, last = [h.strip() for h in lines[0]], lines[-1]
    return {h: float(v) for h, v in zip(header, last, strict=False) if h.startswith("metrics/")}


def export_onnx(weights: Path, out: Path, *, input_hw: tuple[int, int] = (192, 320)) -> Path:
    """ONNX at the camera's aspect (192x320 for 16:9: ~1.5x as fast as square, FACTS.md), simplified, static."""
    offline_ultralytics()
    from ultralytics import YOLO

    exported = Path(YOLO(str(weights)).export(format="onnx", imgsz=list(input_hw), simplify=True, dynamic=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    if exported.resolve() != out.resolve():
        shutil.move(str(exported), out)
    from models.training.onnx_passes import optimize_file

    optimize_file(out)  # the same outputs, ~1.3 ms a frame less here (a last-axis DFL softmax)
    log.info("exported %s -> %s", weights, out)
    return out


def write_split(path: Path, train_originals: list[str], val_originals: list[str], **facts: object) -> None:
    path.write_text(json.dumps({**facts, "train_originals": train_originals, "val_originals": val_originals},
                               indent=1) + "\n")
