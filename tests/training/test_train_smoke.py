"""Training stays alive: `gridwatch model train | export | eval` on a tiny set, one epoch, on the CPU.

It proves the chain a city uses to retrain works offline here (no download), that the split is by original,
and that what export writes loads and runs in the edge runtime (ONNX Runtime, no torch).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
import yaml

from edge.cli import main
from models.vision.model_file import load_detector, read_model_info

TINY_ORIGINALS = ("Snipaste_2024-01-01_12-07-27", "Snipaste_2024-01-01_12-08-12", "Snipaste_2024-01-01_12-09-06",
                  "Snipaste_2024-01-02_10-34-10")


def _tiny_set(shared_dir: Path, out: Path) -> Path:
    """Four originals with their augmented copies (about 28 images), as a city's labelled folder would be."""
    source = shared_dir / "data/vision/ebike-elevator/yolo"
    for image in sorted((source / "images").rglob("*")):
        if image.is_file() and image.name.startswith(TINY_ORIGINALS):
            side = image.parent.name
            (out / "images" / side).mkdir(parents=True, exist_ok=True)
            (out / "labels" / side).mkdir(parents=True, exist_ok=True)
            shutil.copy(image, out / "images" / side / image.name)
            shutil.copy(source / "labels" / side / f"{image.stem}.txt", out / "labels" / side / f"{image.stem}.txt")
    return out


@pytest.mark.timeout(600)
def test_train_export_eval_one_tiny_epoch(yolo_env: Path, shared_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = _tiny_set(shared_dir, tmp_path / "labelled")
    run = tmp_path / "run"
    assert main(["model", "train", "--data", str(data), "--out", str(run), "--epochs", "1", "--imgsz", "160",
                 "--batch", "8", "--val-share", "0.25", "--device", "cpu", "--workers", "0",
                 "--lr0", "0.0005", "--warmup-epochs", "0"]) == 0
    out = capsys.readouterr().out
    assert "split by original: 3 train" in out and "1 held out" in out
    split = json.loads((run / "split.json").read_text())
    assert len(split["val_originals"]) == 1 and not set(split["val_originals"]) & set(split["train_originals"])
    # a fine-tune's low rate reaches ultralytics (its optimizer=auto would silently drop lr0)
    run_args = yaml.safe_load((run / "args.yaml").read_text())
    assert (run_args["optimizer"], run_args["lr0"], run_args["warmup_epochs"]) == ("AdamW", 0.0005, 0.0)
    best = run / "weights" / "last.pt"  # what `model train` names as the result (not ultralytics' best.pt)
    assert best.is_file() and str(best) in out

    onnx = tmp_path / "tiny.onnx"
    assert main(["model", "export", str(best), "--out", str(onnx), "--imgsz", "96", "160"]) == 0
    info = read_model_info(onnx)
    assert info.class_names == ("ebike", "person") and info.input_hw == (96, 160)
    detector = load_detector(onnx, conf=0.001)
    image = cv2.imread(str(shared_dir / "data/vision/ebike-elevator/originals" / f"{TINY_ORIGINALS[0]}.png"))
    detections = detector.detect(image)
    assert detections.class_names == ("ebike", "person")
    assert all(0 <= x <= image.shape[1] + 1 for x in detections.xyxy[:, [0, 2]].ravel())

    capsys.readouterr()
    assert main(["model", "eval", "--model", str(onnx), "--data", str(data), "--split", str(run / "split.json"),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 1 and set(report["classes"]) == {"ebike", "person", "all"}
    assert report["classes"]["ebike"]["labels"] >= 1
