"""The e-bike chain's stages alone, float and int8 side by side: `.venv/bin/python bench/ebike_stages.py [--int8]`.

Each stage is timed in CPU seconds of this thread (time.thread_time): on the two shared cores here another
process's load stretches wall time far more than a thread's own CPU. Variants run interleaved, round by round,
so a load that comes and goes hits each alike; the table gives medians. Stages, on the bench frame of
elevator_pipeline.py: detect (letterbox, ONNX Runtime on 1 thread, decode, NMS); the crop verifier on 1 crop,
on 2 crops as one batch and on 2 crops one at a time, and its crop preparation alone; the score stage.

--options: the detector also under other ONNX Runtime session options than the edge's (models/vision/
onnx_detector.py: 1 intra-op thread, ORT_ENABLE_ALL, sequential, no spinning): lower optimisation levels, denormals
flushed to zero.

--int8: static int8 (QDQ, per-channel int8 weights, uint8 activations, MinMax) of the detector and the verifier,
calibrated on TRAIN-side frames of the bundled split only (originals and their augmented copies); the detector's
head after its last convolutions stays float (quantized, its one output tensor mixes box pixels and 0-1 class
scores and the scores round to 0). Then the VAL side's frames through both chains: e-bike scores after
calibration and fusion, and where each chain lands at the card's strict threshold.

Last, the exact bound on skipping the verifier (models/vision/ebike_scorer.py, `verifier_moot_below`).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.elevator_pipeline import FRAME, SHARED  # noqa: E402
from edge.elevator.config import ElevatorConfig  # noqa: E402
from models.training.dataset import find_images  # noqa: E402
from models.vision.decision import DecisionCard  # noqa: E402
from models.vision.ebike_scorer import EbikeScorer, verifier_moot_below  # noqa: E402
from models.vision.metrics import box_iou  # noqa: E402
from models.vision.model_file import DEFAULT_EBIKE_MODEL, load_detector  # noqa: E402
from models.vision.onnx_detector import OnnxDetector, session_options  # noqa: E402
from models.vision.verifier import CropVerifier, crops  # noqa: E402

EBIKE_SET = SHARED / "data/vision/ebike-elevator/yolo"
SPLIT = DEFAULT_EBIKE_MODEL.with_suffix(".split.json")
VERIFIER = DEFAULT_EBIKE_MODEL.with_name("ebike.verifier.onnx")

OPTION_VARIANTS: dict[str, Callable[[ort.SessionOptions], None]] = {
    "ORT_ENABLE_EXTENDED": lambda o: setattr(o, "graph_optimization_level",
                                             ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED),
    "ORT_ENABLE_BASIC": lambda o: setattr(o, "graph_optimization_level", ort.GraphOptimizationLevel.ORT_ENABLE_BASIC),
    "denormals as zero": lambda o: o.add_session_config_entry("session.set_denormal_as_zero", "1"),
}


def cpu_ms(fn: Callable[[], object]) -> float:
    t0 = time.thread_time()
    fn()
    return (time.thread_time() - t0) * 1e3


def side_images(side: str) -> list[Path]:
    """The shared set's images (originals and augmented copies) of one side of the bundled split."""
    originals = set(json.loads(SPLIT.read_text())[f"{side}_originals"])
    return [item.image for item in find_images(EBIKE_SET) if item.original in originals]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over prepared inputs."""

    def __init__(self, name: str, inputs: list[np.ndarray]) -> None:
        self._it: Iterator[dict[str, np.ndarray]] = iter({name: x} for x in inputs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def quantize(src: Path, out: Path, name: str, inputs: list[np.ndarray], exclude: Callable[[str], bool]) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(src), str(pre))
    excluded = [n.name for n in onnx.load(str(pre)).graph.node if exclude(n.name)]
    quantize_static(str(pre), str(out), _Reader(name, inputs), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded)
    return out


def _head(name: str) -> bool:
    """The YOLOv8-style head after its last convolutions (DFL, box decode, concat), and those convolutions."""
    return (name.startswith("/model.24/") and not re.search(r"/cv[23]\.", name)) \
        or re.search(r"cv[23]\.\d\.2/Conv", name) is not None


def build_int8(tmp: Path, detector: OnnxDetector) -> tuple[Path, Path]:
    train = side_images("train")
    frames = [cv2.imread(str(p)) for p in train]
    det = quantize(DEFAULT_EBIKE_MODEL, tmp / "ebike.int8.onnx", "images",
                   [detector.preprocess(im)[0] for im in frames], _head)
    crop_inputs = []
    for im in frames:  # the crops the verifier sees: the detector's e-bike boxes on train frames
        found = detector.detect(im)
        boxes = [tuple(map(float, b)) for b, lb in zip(found.xyxy, found.labels(), strict=True) if lb == "ebike"]
        crop_inputs += [c[None] for c in crops(im, boxes[:2], 0.15)]
    ver = quantize(VERIFIER, tmp / "ebike.verifier.int8.onnx", "crops", crop_inputs, lambda _: False)
    print(f"int8 calibrated on {len(frames)} train-side frames and {len(crop_inputs)} train-side crops\n")
    return det, ver


def compare_on_val(card: DecisionCard, chains: dict[str, tuple[OnnxDetector, EbikeScorer]], threshold: float) -> None:
    (name_a, (det_a, sc_a)), (name_b, (det_b, sc_b)) = chains.items()
    deltas, only, cross, frames_above = [], 0, 0, {name_a: 0, name_b: 0}
    images = side_images("val")
    for path in images:
        im = cv2.imread(str(path))
        out = {}
        for name, det, sc in ((name_a, det_a, sc_a), (name_b, det_b, sc_b)):
            found = det.detect(im)
            bike = np.array([lb == "ebike" for lb in found.labels()], bool)
            scores = sc.scores(im, found)
            out[name] = (found.xyxy[bike], scores[bike])
            frames_above[name] += int(bool((scores[bike] >= threshold).any()))
        (xa, sa), (xb, sb) = out[name_a], out[name_b]
        iou = box_iou(xa, xb)
        matched_b = set()
        for i in range(len(xa)):
            j = int(np.argmax(iou[i])) if iou.shape[1] else -1
            if j >= 0 and iou[i, j] >= 0.5 and j not in matched_b:
                matched_b.add(j)
                deltas.append(abs(float(sa[i]) - float(sb[j])))
                cross += int((sa[i] >= threshold) != (sb[j] >= threshold))
            else:
                only += 1
        only += len(xb) - len(matched_b)
    d = np.array(deltas)
    print(f"## Val side ({len(images)} frames of {len(set(json.loads(SPLIT.read_text())['val_originals']))} val "
          f"originals): e-bike scores after calibration and fusion, {name_a} vs {name_b}\n")
    print("| matched e-bike boxes | mean abs diff | max abs diff | boxes across the strict threshold "
          f"{threshold} | boxes found by one only | frames with an e-bike >= threshold |")
    print("|---|---|---|---|---|---|")
    print(f"| {len(d)} | {d.mean():.4f} | {d.max():.4f} | {cross} | {only} | "
          f"{frames_above[name_a]} / {frames_above[name_b]} |\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--int8", action="store_true", help="also build and time int8 models (about a minute)")
    parser.add_argument("--options", action="store_true", help="also time the detector under other session options")
    parser.add_argument("--compare", type=Path, nargs="*", default=[], metavar="ONNX",
                        help="other detector files to time beside the shipped one")
    args = parser.parse_args()
    conf = ElevatorConfig().conf
    card = DecisionCard.for_model(DEFAULT_EBIKE_MODEL)
    assert card is not None and card.verifier is not None
    image = cv2.resize(cv2.imread(str(FRAME)), (1280, 720))
    detector = load_detector(DEFAULT_EBIKE_MODEL, conf=conf)
    assert isinstance(detector, OnnxDetector)
    found = detector.detect(image)
    bikes = [tuple(map(float, b)) for b, lb in zip(found.xyxy, found.labels(), strict=True) if lb == "ebike"][:2]
    assert len(bikes) == 2, f"the bench frame should give 2 e-bike boxes, got {found.labels()}"
    detectors: dict[str, OnnxDetector] = {"fp32": detector}
    for path in args.compare:
        detectors[f"fp32, {path}"] = load_detector(path, conf=conf)  # type: ignore[assignment]
    verifiers = {"fp32": CropVerifier(VERIFIER, context=card.verifier.context)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.int8:
            det8, ver8 = build_int8(Path(tmp), detector)
            detectors["int8"] = load_detector(det8, conf=conf)  # type: ignore[assignment]
            verifiers["int8"] = CropVerifier(ver8, context=card.verifier.context)
        if args.options:
            for name, change in OPTION_VARIANTS.items():
                variant = load_detector(DEFAULT_EBIKE_MODEL, conf=conf)
                assert isinstance(variant, OnnxDetector)
                opts = session_options(1)
                change(opts)
                variant.session = ort.InferenceSession(str(DEFAULT_EBIKE_MODEL), sess_options=opts,
                                                       providers=["CPUExecutionProvider"])
                detectors[f"fp32, {name}"] = variant
        scorers = {k: EbikeScorer(card, v) for k, v in verifiers.items()}
        cases: dict[str, Callable[[], object]] = {}
        for k, det in detectors.items():
            cases[f"detect, {k}"] = lambda det=det: det.detect(image)
        cases["verifier crop preparation, 2 crops"] = lambda: crops(image, bikes, card.verifier.context)
        for k, ver in verifiers.items():
            cases[f"verifier {k}, 1 crop"] = lambda ver=ver: ver.probabilities(image, bikes[:1])
            cases[f"verifier {k}, 2 crops as one batch"] = lambda ver=ver: ver.probabilities(image, bikes)
            cases[f"verifier {k}, 2 crops one by one"] = lambda ver=ver: [ver.probabilities(image, [b]) for b in bikes]
        for k, sc in scorers.items():
            cases[f"score stage {k} ({len(found)} boxes, 2 e-bikes)"] = lambda sc=sc: sc.scores(image, found)
        for fn in cases.values():  # warm-up: the first runs allocate
            fn(), fn()
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for key, fn in cases.items():
                samples[key].append(cpu_ms(fn))
        print(f"`{' '.join([Path(sys.executable).name, *sys.argv])}`: {args.rounds} interleaved rounds, "
              f"CPU ms of this thread, 1 ONNX Runtime thread\n")
        print("| stage | median ms | p10 ms | p90 ms |\n|---|---|---|---|")
        for key, values in samples.items():
            q = statistics.quantiles(values, n=10)
            print(f"| {key} | {statistics.median(values):.2f} | {q[0]:.2f} | {q[-1]:.2f} |")
        print()
        strict = card.operating_points["strict"].score_threshold
        if args.int8:
            compare_on_val(card, {k: (detectors[k], scorers[k]) for k in ("fp32", "int8")}, strict)
    for name, point in card.operating_points.items():
        below = verifier_moot_below(card.verifier.fusion, point.score_threshold)
        print(f"exact verifier skip at {name} (T {point.score_threshold}): only for raw e-bike scores below "
              f"{below:.4f}; boxes reach the scorer from conf {conf}, so it skips "
              f"{'nothing' if below <= conf else 'boxes in [' + str(conf) + f', {below:.4f})'}")


if __name__ == "__main__":
    main()
