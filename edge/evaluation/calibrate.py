"""`gridwatch model calibrate`: fit a model's decision card on the val side, never the test side.

1. Boxes: the detector (at the edge's box threshold) on every val image of a built set; each box matched to a
   labelled one of its class (IoU >= 0.5) or not. Per class, a logistic calibration of the score; for e-bikes
   with a crop verifier, the fusion of both scores. Printed: expected calibration error before and after.
2. Rides: val positives (rides of the val originals, and the val composites as scenes) and val negatives
   (crops and painted-out val originals, the val side's hard negatives) played once through the edge's frame
   judge; the rule is then replayed on the recorded boxes for every threshold and M-of-K on a grid.
3. Operating points, from those rides only:
   - strict: the most recall with no false alert at all on the val negatives, then the highest threshold that
     keeps that recall (the widest margin against false holds);
   - balanced: the most recall with at most `balanced_holds_per_hour` false holds per camera-hour, then the
     highest threshold that keeps it.
This module lives with the evaluation (it replays rides through the edge's judge); `gridwatch model` calls it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from edge.evaluation.elevator import EPOCH, GAP_S
from models.vision.calibration import Logistic, expected_calibration_error, fit_logistic
from models.vision.decision import DecisionCard, PointCard, VerifierCard
from models.vision.metrics import box_iou, read_yolo_labels

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.2, 0.96, 0.05))
MIN_SEEN = (3, 4, 5, 6)
MAX_VAL_COMPOSITES = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="the exported detector (.onnx)")
    parser.add_argument("--verifier", type=Path, default=None, help="a crop verifier (.onnx) to fuse, optional")
    parser.add_argument("--data", type=Path, required=True, help="the set built by `gridwatch model data build`")
    parser.add_argument("--split", type=Path, default=None, help="its split file (default: DATA/split.json)")
    parser.add_argument("--balanced-holds-per-hour", type=float, default=1.0,
                        help="false holds per camera-hour the balanced point may cost on val (default 1)")
    parser.add_argument("--default-point", choices=("strict", "balanced"), default="strict")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--ride-s", type=float, default=20.0, help="seconds each scene is in view (default 20)")
    parser.add_argument("--positives-per-original", type=int, default=3, help="val rides per val original")
    parser.add_argument("--negative-hours", type=float, default=0.1,
                        help="camera-hours of crops and painted-out val originals (default 0.1)")
    parser.add_argument("--per-kind", type=int, default=6, help="val hard-negative scenes of each kind (default 6)")
    parser.add_argument("--composites", type=int, default=MAX_VAL_COMPOSITES,
                        help=f"val composites played as e-bike scenes (default {MAX_VAL_COMPOSITES})")


# ---- 1. boxes -------------------------------------------------------------------------------------------

@dataclass
class BoxScores:
    det: dict[str, list[float]] = field(default_factory=dict)
    ver: list[float] = field(default_factory=list)  # e-bike boxes, with the verifier
    truth: dict[str, list[int]] = field(default_factory=dict)


def box_scores(images: list[Path], detector, verifier, names: tuple[str, ...]) -> BoxScores:
    import cv2

    out = BoxScores({n: [] for n in names}, [], {n: [] for n in names})
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        label = Path(str(path).replace("/images/", "/labels/")).with_suffix(".txt")
        ids, boxes = read_yolo_labels(label, image.shape[:2])
        found = detector.detect(image)
        for cid, name in enumerate(names):
            sel = np.flatnonzero(found.class_ids == cid)
            sel = sel[np.argsort(-found.scores[sel])]
            gt = boxes[ids == cid]
            taken = np.zeros(len(gt), bool)
            iou = box_iou(found.xyxy[sel], gt) if len(gt) else np.zeros((len(sel), 0))
            for row, i in enumerate(sel):
                hit = False
                if len(gt):
                    cand = np.where(taken, -1, iou[row])
                    j = int(np.argmax(cand))
                    if cand[j] >= 0.5:
                        taken[j], hit = True, True
                out.det[name].append(float(found.scores[i]))
                out.truth[name].append(int(hit))
            if name == "ebike" and verifier is not None and len(sel):
                out.ver += [float(p) for p in verifier.probabilities(image, [tuple(map(float, found.xyxy[i]))
                                                                             for i in sel])]
    return out


def fit_card_scores(scores: BoxScores, verifier_file: str | None, context: float) -> tuple[DecisionCard, dict]:
    calibration: dict[str, Logistic] = {}
    report: dict[str, Any] = {}
    for name, det in scores.det.items():
        y = np.array(scores.truth[name])
        if len(y) < 10 or y.min() == y.max():
            report[name] = {"boxes": len(y), "skipped": "too few boxes of both kinds"}
            continue
        fit = fit_logistic([np.array(det)], y)
        calibration[name] = fit
        report[name] = {"boxes": len(y), "true": int(y.sum()),
                        "ece_before": round(expected_calibration_error(np.array(det), y), 4),
                        "ece_after": round(expected_calibration_error(fit(np.array(det)), y), 4)}
    verifier_card = None
    if verifier_file is not None and scores.ver:
        y = np.array(scores.truth["ebike"])
        fusion = fit_logistic([np.array(scores.det["ebike"]), np.array(scores.ver)], y)
        verifier_card = VerifierCard(file=verifier_file, fusion=fusion, context=context)
        fused = fusion(np.array(scores.det["ebike"]), np.array(scores.ver))
        report["ebike_fused"] = {"ece_after": round(expected_calibration_error(fused, y), 4),
                                 "weights": fusion.weights, "bias": round(fusion.bias, 3)}
    return DecisionCard(calibration=calibration, verifier=verifier_card), report


# ---- 2. rides --------------------------------------------------------------------------------------------

@dataclass
class RecordedRide:
    kind: str  # positive | negative
    hours: float
    first_ebike_s: float | None
    frames: list[tuple[float, str, list, tuple[int, int]]]  # (t, door, detections the rule sees, frame hw)


def record(rides, judge) -> list[RecordedRide]:
    """Play each ride once through the judge; keep what the rule saw, frame by frame."""
    from ingest.wire.elevator import ElevatorStatus
    from models.vision.frames import decode_jpeg

    out = []
    start = EPOCH
    for i, ride in enumerate(rides):
        eid = f"cal-{i:04d}"
        judge.on_status(eid, ElevatorStatus(ts=start, door="open"))
        door, frames = "open", []
        for frame in ride.frames():
            ts = start + timedelta(seconds=frame.t)
            if frame.door != door:
                door = frame.door
                judge.on_status(eid, ElevatorStatus(ts=ts, door=door))
            image = decode_jpeg(frame.jpeg)
            judged = judge.judge(eid, ts, image)
            frames.append((frame.t, door, judged.detections, image.shape[:2]))
        judge.forget(eid)
        out.append(RecordedRide("positive" if ride.first_ebike_s is not None else "negative",
                                ride.duration_s / 3600, ride.first_ebike_s, frames))
        start += timedelta(seconds=ride.duration_s + GAP_S)
    return out


def replay(recorded: list[RecordedRide], params) -> dict[str, Any]:
    """The rule with `params` over recorded rides: recall, delays, false alerts and holds on negatives."""
    from ingest.wire.elevator import ElevatorStatus
    from rules.elevator.ebike import EbikeRule

    rule = EbikeRule(params)
    caught, delays, false_alerts, hours = 0, [], 0, 0.0
    positives = sum(1 for r in recorded if r.kind == "positive")
    start = EPOCH
    for i, ride in enumerate(recorded):
        eid = f"r-{i:04d}"
        rule.on_status(eid, ElevatorStatus(ts=start, door="open"))
        door, raises = "open", []
        for t, frame_door, detections, hw in ride.frames:
            ts = start + timedelta(seconds=t)
            if frame_door != door:
                door = frame_door
                rule.on_status(eid, ElevatorStatus(ts=ts, door=door))  # type: ignore[arg-type]
            was = rule.is_open(eid)
            rule.on_frame(eid, ts, detections, hw)
            if not was and rule.is_open(eid):
                raises.append(t)
        if ride.kind == "positive":
            if raises:
                caught += 1
                delays.append(max(0.0, raises[0] - (ride.first_ebike_s or 0.0)))
        else:
            false_alerts += len(raises)
            hours += ride.hours
        start += timedelta(seconds=ride.frames[-1][0] + GAP_S if ride.frames else GAP_S)
    return {"recall": round(caught / positives, 4) if positives else None, "caught": caught,
            "positives": positives, "false_alerts": false_alerts, "negative_hours": round(hours, 3),
            "holds_per_camera_hour": round(false_alerts / hours, 3) if hours else None,
            "delay_p50_s": round(float(np.median(delays)), 2) if delays else None}


def choose(grid: dict[tuple[float, int], dict], max_holds_per_hour: float) -> tuple[float, int]:
    """The most recall within the false-hold budget, then the widest margin (highest threshold), then the
    fewest frames (fastest)."""
    ok = {k: v for k, v in grid.items() if (v["holds_per_camera_hour"] or 0.0) <= max_holds_per_hour}
    if not ok:  # nothing meets the budget: the fewest false alerts, then recall
        best = min(grid.values(), key=lambda v: v["false_alerts"])["false_alerts"]
        ok = {k: v for k, v in grid.items() if v["false_alerts"] == best}
    return max(ok, key=lambda k: (ok[k]["recall"] or 0.0, k[0], -k[1]))


def main(args: argparse.Namespace) -> int:
    from edge.elevator.config import ElevatorConfig
    from edge.elevator.judge import FrameJudge
    from edge.evaluation.elevator import eval_rides
    from edge.evaluation.elevator_folders import folder_scenes, scene_rides
    from models.training.scenes import SceneSplit
    from models.training.synth.negatives import build_negatives
    from models.vision.ebike_scorer import EbikeScorer
    from models.vision.model_file import load_detector
    from models.vision.verifier import CropVerifier
    from rules.elevator.ebike import EbikeRule
    from simulators.elevator.footage import RideSpec
    from simulators.elevator.sources import open_source

    edge = ElevatorConfig()
    split_file = args.split or args.data / "split.json"
    split = SceneSplit.read(split_file)
    if not split.val:
        raise SystemExit(f"error: {split_file} has no val side to calibrate on")
    detector = load_detector(args.model, conf=edge.conf)
    verifier = CropVerifier(args.verifier) if args.verifier else None
    val_images = sorted(p for p in (args.data / "images" / "val").iterdir() if p.suffix in (".jpg", ".png"))
    scores = box_scores(val_images, detector, verifier, detector.class_names)
    verifier_file = None
    if args.verifier:
        verifier_file = str(Path(args.verifier).resolve().relative_to(Path(args.model).resolve().parent)) \
            if Path(args.verifier).resolve().parent == Path(args.model).resolve().parent else str(args.verifier)
    card, box_report = fit_card_scores(scores, verifier_file, verifier.context if verifier else 0.15)
    print("calibration on val boxes: " + json.dumps(box_report))

    scorer = EbikeScorer(card, verifier)
    spec = RideSpec(ride_s=args.ride_s)
    from simulators.elevator.cli import DEFAULT_SOURCE

    source = open_source(DEFAULT_SOURCE, split=split.val)
    with tempfile.TemporaryDirectory() as tmp:
        build_negatives(split, Path(tmp) / "neg", per_kind=args.per_kind, seed=args.seed, side="val")
        composites = Path(tmp) / "pos"
        composites.mkdir()
        for p in sorted((args.data / "images" / "val").glob("pasted_ebikes_val_*.jpg"))[:args.composites]:
            (composites / p.name).symlink_to(p.resolve())
        rides = itertools.chain(
            eval_rides(source, spec, args.seed, args.positives_per_original, args.negative_hours, 0.5),
            scene_rides(folder_scenes(composites), spec, args.seed, has_ebike=True),
            scene_rides(folder_scenes(Path(tmp) / "neg"), spec, args.seed, has_ebike=False),
        )
        judge = FrameJudge(detector, EbikeRule(edge.ebike.resolved(None)), scorer, edge.empty_car)
        recorded = record(rides, judge)
    grid = {(t, m): replay(recorded, edge.ebike.model_copy(update={"score_threshold": t, "min_seen_frames": m}))
            for t in THRESHOLDS for m in MIN_SEEN}
    points = {}
    for name, budget in (("strict", 0.0), ("balanced", args.balanced_holds_per_hour)):
        t, m = choose(grid, budget)
        points[name] = PointCard(score_threshold=t, min_seen_frames=m, val=grid[(t, m)])
        print(f"{name}: median calibrated score >= {t} in >= {m} of {edge.ebike.window_frames} frames; val "
              + json.dumps(grid[(t, m)]))
    card = card.model_copy(update={
        "operating_points": points, "default_point": args.default_point,
        "chosen_on": f"val side of {split_file}: {len(split.val)} originals, their composites and hard negatives",
    })
    path = card.write(args.model)
    (path.with_suffix(".grid.json")).write_text(json.dumps(
        [{"score_threshold": t, "min_seen_frames": m, **v} for (t, m), v in grid.items()], indent=0) + "\n")
    print(f"wrote {path}")
    return 0
