"""YOLOX-Nano through OnnxDetector on one core: `.venv/bin/python bench/vision_detector.py [runs] [threads]`.

A real elevator screenshot, resized to a 1280x720 camera frame and JPEG-encoded as a camera would publish it,
goes through decode_jpeg and detect() `runs` times (after 5 warm-up runs); per-stage median and p95 in ms.
Then the second-opinion question: how often YOLOX's bicycle/motorcycle classes cover the labelled e-bikes
(IoU > 0.3) over the 28 originals.
Data: /work/shared/data/vision/ebike-elevator (EtoilesHa/ebike-detect-via-YOLO, GPL-3.0), YOLOX-Nano (Apache-2.0).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.vision import OnnxDetector, decode_jpeg  # noqa: E402
from models.vision.coco import COCO80  # noqa: E402
from models.vision.nms import iou  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data/vision/ebike-elevator"
MODEL = SHARED / "weights/yolox_nano.onnx"
FRAME = "Snipaste_2024-01-01_12-07-52"  # a person wheeling an e-bike into the car
EBIKE, PERSON = 0, 1


def _ms(values: list[float]) -> str:
    arr = np.asarray(values) * 1e3
    return f"{np.median(arr):.2f} | {np.percentile(arr, 95):.2f}"


def timing(runs: int, threads: int) -> None:
    image = cv2.resize(cv2.imread(str(DATA / "originals" / f"{FRAME}.png")), (1280, 720))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    jpeg = buf.tobytes()
    det = OnnxDetector(MODEL, kind="yolox", class_names=COCO80, threads=threads)
    for _ in range(5):
        det.detect(decode_jpeg(jpeg))
    stages: dict[str, list[float]] = {"decode_jpeg": [], "letterbox": [], "infer": [], "decode+nms": [], "total": []}
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        frame = decode_jpeg(jpeg)
        t1 = time.perf_counter()
        det.detect(frame)
        stages["decode_jpeg"].append(t1 - t0)
        stages["letterbox"].append(det.times.letterbox)
        stages["infer"].append(det.times.infer)
        stages["decode+nms"].append(det.times.decode_nms)
        stages["total"].append(time.perf_counter() - t0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"## YOLOX-Nano 416x416, {threads} thread(s), 1280x720 JPEG ({len(jpeg) // 1024} KiB), {runs} runs\n")
    print("| stage | median ms | p95 ms |\n|---|---|---|")
    for name, values in stages.items():
        print(f"| {name} | {_ms(values)} |")
    print(f"\nframes/s: {runs / wall:.1f} wall; {runs / cpu:.1f} per CPU-second (per core)\n")


def second_opinion() -> None:
    det = OnnxDetector(MODEL, kind="yolox", class_names=COCO80, conf=0.05)
    hits: dict[tuple[str, float], int] = {}
    stray: dict[tuple[str, float], int] = {}  # detections of those classes on no labelled box
    totals = {"ebike": 0, "person": 0}
    for path in sorted((DATA / "originals").glob("Snipaste_*.png")):
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        labels = (DATA / "yolo/labels" / split / f"{path.stem}.txt" for split in ("train", "test"))
        label = next(p for p in labels if p.exists())
        rows = np.loadtxt(label, ndmin=2)
        cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        found = det.detect(image)
        for target, cls, coco in (("ebike", EBIKE, ("bicycle", "motorcycle")), ("person", PERSON, ("person",))):
            truth = boxes[rows[:, 0] == cls]
            totals[target] += len(truth)
            for conf in (0.05, 0.1, 0.25, 0.5):
                cand = found.above(conf).with_classes(*coco)
                overlap = iou(truth, cand.xyxy)
                n = int((overlap.max(axis=1) > 0.3).sum()) if overlap.size else 0
                hits[(target, conf)] = hits.get((target, conf), 0) + n
                off = int((overlap.max(axis=0) <= 0.3).sum()) if overlap.size else len(cand)
                stray[(target, conf)] = stray.get((target, conf), 0) + off
    print("## YOLOX COCO classes on the labelled boxes of the 28 originals (IoU > 0.3)\n")
    print("Cells: labelled boxes found / labelled boxes (detections of those classes on no labelled box).\n")
    print("| labelled | COCO classes | conf 0.05 | conf 0.1 | conf 0.25 | conf 0.5 |\n|---|---|---|---|---|---|")
    for target, coco in (("ebike", "bicycle or motorcycle"), ("person", "person")):
        confs = (0.05, 0.1, 0.25, 0.5)
        cells = " | ".join(f"{hits[(target, c)]}/{totals[target]} ({stray[(target, c)]})" for c in confs)
        print(f"| {target} | {coco} | {cells} |")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    timing(runs, threads)
    second_opinion()


if __name__ == "__main__":
    main()
