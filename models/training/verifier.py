"""Train the crop verifier (the `train` extra): e-bike or not, on the crops the detector proposes.

Examples per side of a built set (`gridwatch model data build`):
- e-bikes: every labelled e-bike box, jittered a few times (shift and size, as the detector's boxes wander);
- not e-bikes: the detector's own e-bike candidates that overlap no labelled e-bike (its false positives on
  wheelchairs, props, people, walls: the hard negatives that matter), the labelled people, and a random box
  of each image without an e-bike.
The network is the COCO-pretrained YOLOv5n backbone (layers 0-9 of ../shared/weights/yolov5nu_from_v5n_backbone.pt:
it has seen bicycles, motorcycles, suitcases and people) with one logit on top, at 96x96, exported to ONNX.
The crops are cut by models/vision/verifier.py's `crops()`, the same function the edge uses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.vision.detector import Detector
from models.vision.metrics import box_iou, read_yolo_labels
from models.vision.verifier import CROP_SIZE, crop_box

log = logging.getLogger(__name__)

EBIKE, PERSON = 0, 1
JITTERS = 3


@dataclass
class CropSet:
    crops: np.ndarray  # (n, size, size, 3) uint8 RGB
    truth: np.ndarray  # (n,) 1 = e-bike
    kinds: list[str]  # what each crop is: ebike | candidate | person | random

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in self.kinds:
            out[k] = out.get(k, 0) + 1
        return out


def _jitter(box: np.ndarray, rng: np.random.Generator, hw: tuple[int, int]) -> tuple[float, ...]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    dx, dy = rng.uniform(-0.1, 0.1) * w, rng.uniform(-0.1, 0.1) * h
    sw, sh = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)
    cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
    return (max(cx - w * sw / 2, 0), max(cy - h * sh / 2, 0), min(cx + w * sw / 2, hw[1]), min(cy + h * sh / 2, hw[0]))


def collect(images: list[Path], detector: Detector, *, context: float, seed: int = 0,
            candidate_conf: float = 0.05, size: int = CROP_SIZE) -> CropSet:
    """Crops and truth for every image (YOLO labels beside it under labels/)."""
    rng = np.random.default_rng(seed)
    crops, truth, kinds = [], [], []
    ebike_id = detector.class_names.index("ebike")

    def add(image: np.ndarray, box, is_bike: bool, kind: str) -> None:
        crops.append(crop_box(image, tuple(float(v) for v in box), context, size))
        truth.append(int(is_bike))
        kinds.append(kind)

    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        label = Path(str(path).replace("/images/", "/labels/")).with_suffix(".txt")
        ids, boxes = read_yolo_labels(label if label.is_file() else None, image.shape[:2])
        bikes = boxes[ids == EBIKE]
        for box in bikes:
            for _ in range(JITTERS):
                add(image, _jitter(box, rng, image.shape[:2]), True, "ebike")
        for box in boxes[ids == PERSON]:
            if not len(bikes) or box_iou(box[None], bikes).max() < 0.3:
                add(image, box, False, "person")
        found = detector.detect(image)
        cand = found.xyxy[(found.class_ids == ebike_id) & (found.scores >= candidate_conf)][:10]
        for box in cand:
            if not len(bikes) or box_iou(box[None], bikes).max() < 0.3:
                add(image, box, False, "candidate")
        if not len(bikes):
            h, w = image.shape[:2]
            bw, bh = rng.uniform(0.15, 0.6) * w, rng.uniform(0.2, 0.8) * h
            x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            add(image, (x1, y1, x1 + bw, y1 + bh), False, "random")
    if not crops:
        raise ValueError("no crops: no readable images")
    return CropSet(np.stack(crops), np.array(truth, np.float32), kinds)


def build_network(weights: Path):
    """The COCO YOLOv5n backbone (layers 0-9, sequential) with a pooled linear head: one logit, e-bike or not."""
    import torch
    from torch import nn

    from models.training.environment import offline_ultralytics

    offline_ultralytics()
    from ultralytics import YOLO

    layers = list(YOLO(str(weights)).model.model[:10])
    for layer in layers:
        for p in layer.parameters():
            p.requires_grad_(True)

    class Verifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(*layers)
            with torch.no_grad():
                channels = self.backbone(torch.zeros(1, 3, CROP_SIZE, CROP_SIZE)).shape[1]
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(channels, 1))

        def forward(self, x):  # x: (n, 3, s, s) RGB 0-1
            return self.head(self.backbone(x))

    return Verifier()


def _augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip, light and colour, noise: the camera's moods, per crop."""
    out = batch.astype(np.float32)
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, ::-1]
    out *= rng.uniform(0.7, 1.3, (len(out), 1, 1, 1)) * rng.uniform(0.9, 1.1, (len(out), 1, 1, 3))
    out += rng.uniform(-20, 20, (len(out), 1, 1, 1)) + rng.normal(0, 4, out.shape)
    grey = rng.random(len(out)) < 0.15
    out[grey] = out[grey].mean(axis=3, keepdims=True)
    return np.clip(out, 0, 255)


def _tensor(batch: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0)


@dataclass(frozen=True)
class VerifierResult:
    onnx: Path
    seconds: float
    train_counts: dict[str, int]
    val_auc: float | None


def auc(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """Area under the ROC curve (the chance a random e-bike crop outscores a random other one)."""
    pos, neg = scores[truth == 1], scores[truth == 0]
    if not len(pos) or not len(neg):
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def train_verifier(train: CropSet, val: CropSet | None, out: Path, *, weights: Path, epochs: int = 8,
                   batch: int = 64, lr: float = 1e-3, seed: int = 0) -> VerifierResult:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    net = build_network(weights)
    head_params = list(net.head.parameters())
    optimiser = torch.optim.AdamW([{"params": net.backbone.parameters(), "lr": lr * 0.3},
                                   {"params": head_params, "lr": lr}], weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(train.truth) / batch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=[lr * 0.3, lr], total_steps=steps)
    positives = float(train.truth.mean())
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - positives) / max(positives, 1e-3)))
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(train.truth))
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x = _tensor(_augment(train.crops[idx], rng))
            y = torch.from_numpy(train.truth[idx])[:, None]
            optimiser.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        log.info("verifier epoch %d/%d: loss %.4f", epoch + 1, epochs, total / len(order))
    net.eval()
    val_auc = None
    if val is not None:
        val_auc = auc(predict(net, val.crops), val.truth)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 3, CROP_SIZE, CROP_SIZE), str(out), input_names=["crops"],
                      output_names=["logit"], dynamic_axes={"crops": {0: "n"}, "logit": {0: "n"}}, opset_version=17,
                      dynamo=False)
    return VerifierResult(out, time.monotonic() - started, train.counts(), val_auc)


def predict(net, crops: np.ndarray, batch: int = 256) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            out.append(torch.sigmoid(net(_tensor(crops[i:i + batch]))).numpy().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0)
