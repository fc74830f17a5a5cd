"""`gridwatch eval elevator`: the real e-bike detector and the real EbikeRule, in process and on event time,
over rides built by the simulator's footage code: recall of positive rides, false alerts per camera-hour of
footage without e-bikes (crops and painted-out originals apart), time from the bike's first frame to the alert,
and a per-frame confusion summary.

Each ride is a fresh elevator id (a fresh tracker) with the door opening at its start, as the edge would see it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.evaluation.elevator_scoring import RideResult, summarise

if TYPE_CHECKING:
    from edge.elevator.config import ElevatorConfig
    from edge.elevator.judge import FrameJudge
    from simulators.elevator.footage import Ride, RideSpec
    from simulators.elevator.sources import Source

EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # fixed event time, so that anyone gets the same episode ids
GAP_S = 60.0  # event time between two rides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simulators.elevator.cli import add_source_arguments

    add_source_arguments(parser)
    parser.add_argument("--model", type=Path, help="ONNX e-bike model (default: the bundled models/weights/ebike.onnx)")
    parser.add_argument("--conf", type=float, default=None, help="detector box threshold (default: the edge's)")
    parser.add_argument("--positives-per-original", type=int, default=3,
                        help="positive rides per scored original, each with its own jitter (default 3)")
    parser.add_argument("--negative-hours", type=float, default=0.5,
                        help="camera-hours of footage without e-bikes (default 0.5)")
    parser.add_argument("--crop-share", type=float, default=0.5,
                        help="share of the negative hours from clean crops; the rest painted out (default 0.5)")
    parser.add_argument("--originals", type=int, help="score only the first N originals (quick runs)")
    parser.add_argument("--score-threshold", type=float, default=None,
                        help="the rule's median score threshold (default: the edge's, EbikeParams)")
    parser.add_argument("--min-seen", type=int, default=None, help="the rule's M of K frames (default: the edge's)")
    parser.add_argument("--operating-point", choices=("strict", "balanced"), default=None,
                        help="the model's operating point (default: its decision card's)")
    parser.add_argument("--no-verify", action="store_true", help="without the crop verifier")
    parser.add_argument("--no-empty-car", action="store_true", help="without the per-camera empty-car reference")
    parser.add_argument("--negatives", type=Path, action="append", metavar="DIR",
                        help="also play every scene of this folder of frames without e-bikes (repeatable; "
                             "`gridwatch model data negatives` builds one): false alerts and holds per scene")
    parser.add_argument("--positives", type=Path, action="append", metavar="DIR",
                        help="also play every scene of this folder of frames with an e-bike (repeatable): "
                             "caught or missed per scene")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def eval_rides(source: Source, spec: RideSpec, seed: int, positives_per_original: int, negative_hours: float,
               crop_share: float) -> Iterator[Ride]:
    """Positives first (every original with a bike, repeated), then crops, then painted-out originals, each kind
    until its share of the negative hours is reached; lazily, one ride's images in memory at a time."""
    from simulators.elevator.footage import negative_ride, positive_ride, unknown_ride, video_ride

    if source.kind == "video":
        yield video_ride(str(source.path), spec, seed)
        return
    stills = source.stills
    if source.kind != "labelled":
        for i, still in enumerate(stills):
            yield unknown_ride(still, spec, seed * 1_000_003 + i)
        return
    counter = itertools.count()
    for _ in range(positives_per_original):
        for still in stills:
            if still.ebike_boxes:
                yield positive_ride(still, spec, seed * 1_000_003 + next(counter))
    for kind, share in (("crop", crop_share), ("inpaint", 1.0 - crop_share)):
        target, done, barren = negative_hours * share * 3600, 0.0, 0
        for still in itertools.cycle(stills):
            if done >= target or barren >= len(stills):
                break
            ride = negative_ride(still, kind, spec, seed * 1_000_003 + next(counter))  # type: ignore[arg-type]
            if ride is None:
                barren += 1
                continue
            barren = 0
            done += ride.duration_s
            yield ride


def score_ride(ride: Ride, elevator_id: str, start: datetime, judge: FrameJudge) -> RideResult:
    """Play one ride through the edge's own frame judge; a raise is an alert, a hold_door a held door."""
    from ingest.wire.elevator import ElevatorStatus
    from models.vision.frames import decode_jpeg

    rule = judge.rule
    result = RideResult(ride.kind, ride.source, elevator_id, ride.duration_s, 0, ride.first_ebike_s,
                        group=ride.group)
    threshold = rule.params.score_threshold
    judge.on_status(elevator_id, ElevatorStatus(ts=start, door="open"))
    door = "open"
    for frame in ride.frames():
        ts = start + timedelta(seconds=frame.t)
        if frame.door != door:
            door = frame.door
            judge.on_status(elevator_id, ElevatorStatus(ts=ts, door=door))  # type: ignore[arg-type]
        image = decode_jpeg(frame.jpeg)
        was_open = rule.is_open(elevator_id)
        judged = judge.judge(elevator_id, ts, image)
        result.frames += 1
        result.suppressed += judged.suppressed
        if not was_open and rule.is_open(elevator_id):  # a raise, not an update of an open episode
            result.raises.append(frame.t)
        result.holds += sum(1 for c in judged.decision.commands if c.action == "hold_door")
        bike_seen = any(b.label in rule.params.ebike_classes and b.score >= threshold for b in judged.detections)
        result.count(result.detector, bike_seen, frame.ebike)
        result.count(result.rule, bool(judged.decision.confirmed), frame.ebike)
    judge.forget(elevator_id)
    return result


def _config(args: argparse.Namespace) -> ElevatorConfig:
    """The edge's elevator config with the command's overrides: what the edge would run."""
    from edge.elevator.config import ElevatorConfig

    edge = ElevatorConfig()
    ebike = {k: v for k, v in (("score_threshold", args.score_threshold), ("min_seen_frames", args.min_seen),
                               ("operating_point", args.operating_point)) if v is not None}
    return edge.model_copy(update={
        "model": args.model, "verify": not args.no_verify,
        "conf": edge.conf if args.conf is None else args.conf,
        "ebike": edge.ebike.model_copy(update=ebike),
        "empty_car": edge.empty_car.model_copy(update={"enabled": not args.no_empty_car}),
    })


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from edge.elevator.judge import FrameJudge
    from edge.elevator.model import load_chain
    from edge.evaluation.elevator_folders import folder_scenes, scene_rides
    from rules.elevator.ebike import EbikeRule
    from simulators.elevator.cli import describe, load_source
    from simulators.elevator.footage import RideSpec
    from simulators.elevator.sources import Source

    source = load_source(args)
    if args.originals:
        source = Source(source.kind, source.path, source.stills[:args.originals], source.scored[:args.originals],
                        source.split_file)
    config = _config(args)
    chain = load_chain(config)
    judge = FrameJudge(chain.detector, EbikeRule(chain.params), chain.scorer, config.empty_car)
    spec = RideSpec(fps=args.fps, ride_s=args.ride_s)
    results: list[RideResult] = []
    start, started = EPOCH, time.perf_counter()
    rides = itertools.chain(
        eval_rides(source, spec, args.seed, args.positives_per_original, args.negative_hours, args.crop_share),
        *(scene_rides(folder_scenes(d), spec, args.seed, has_ebike=True) for d in args.positives or ()),
        *(scene_rides(folder_scenes(d), spec, args.seed, has_ebike=False) for d in args.negatives or ()),
    )
    for i, ride in enumerate(rides):
        results.append(score_ride(ride, f"eval-{i:04d}", start, judge))
        start += timedelta(seconds=ride.duration_s + GAP_S)
    wall = time.perf_counter() - started
    frames = sum(r.frames for r in results)
    params = chain.params
    return {
        "model": str(chain.model), "footage": describe(source), "originals": list(source.scored),
        "split": str(source.split_file) if source.split_file else None, "fps": args.fps, "ride_s": args.ride_s,
        "seed": args.seed,
        "rule": {"score_threshold": params.score_threshold, "min_seen_frames": params.min_seen_frames,
                 "window_frames": params.window_frames, "conf": config.conf,
                 "operating_point": (params.operating_point or (chain.card.default_point if chain.card else None))
                 if chain.card and chain.card.operating_points and args.score_threshold is None else None,
                 "calibrated": chain.scorer.calibrated, "verifier": chain.scorer.verifier is not None,
                 "empty_car": config.empty_car.enabled},
        "negatives": [str(d) for d in args.negatives or ()], "positives": [str(d) for d in args.positives or ()],
        "rides": len(results), **summarise(results),
        "wall_s": round(wall, 1), "ms_per_frame": round(1000 * wall / frames, 1) if frames else None,
    }


def _fmt(value: Any, suffix: str = "") -> str:
    return "-" if value is None else f"{value}{suffix}"


def render(report: dict[str, Any]) -> str:
    pos, delay, neg, frames = report["positive"], report["time_to_alert_s"], report["negative"], report["frames"]
    lines = [
        f"model {report['model']}",
        f"footage: {report['footage']}",
        f"{report['rides']} rides at {report['fps']:g} fps, scene {report['ride_s']:g} s, seed {report['seed']}; "
        f"{frames['scored']} frames in {report['wall_s']} s ({_fmt(report['ms_per_frame'], ' ms')} per frame)",
        "rule: median score >= {score_threshold} in >= {min_seen_frames} of {window_frames} frames, "
        "boxes >= {conf}; operating point {operating_point}, calibrated {calibrated}, verifier {verifier}, "
        "empty car {empty_car}".format(**report["rule"]),
        f"recall (episodes): {pos['caught']}/{pos['rides']} positive rides caught = {_fmt(pos['recall'])}"
        + (f"; {pos['raised_before_bike']} raised before the bike came in" if pos["raised_before_bike"] else ""),
        f"time to alert from the first e-bike frame: p50 {_fmt(delay['p50'], ' s')}, p90 {_fmt(delay['p90'], ' s')}, "
        f"max {_fmt(delay['max'], ' s')}",
    ]
    for kind, label in (("crop", "clean crops"), ("inpaint", "bikes painted out"), ("scene", "folder scenes")):
        n = neg[kind]
        if n["rides"] or kind != "scene":
            lines.append(f"false alerts, {label}: {n['false_alerts']} in {n['hours']} camera-h ({n['rides']} rides, "
                         f"{n['rides_with_alert']} with an alert) = {_fmt(n['per_camera_hour'])} per camera-hour; "
                         f"false holds {n['false_holds']} = {_fmt(n['holds_per_camera_hour'])} per camera-hour")
    total = neg["total"]
    lines.append(f"false alerts, all footage without e-bikes: {total['false_alerts']} in {total['hours']} camera-h = "
                 f"{_fmt(total['per_camera_hour'])} per camera-hour; false holds {total['false_holds']} = "
                 f"{_fmt(total['holds_per_camera_hour'])} per camera-hour")
    for kind, row in report["scenes"]["kinds"].items():
        lines.append(f"scenes {kind}: {row['with_alert']}/{row['scenes']} with an alert, {row['holds']} holds")
    for row in report["scenes"]["rows"]:
        if row["alerts"] or row["ebike"]:
            verdict = ("caught" if row["alerts"] else "MISSED") if row["ebike"] else "FALSE ALERT"
            lines.append(f"  {row['scene']}: {verdict}"
                         f" alerts {row['alerts']} holds {row['holds']} first at {_fmt(row['first_alert_s'], ' s')}")
    if report["empty_car_drops"]:
        lines.append(f"e-bike boxes dropped as the empty car: {report['empty_car_drops']}")
    if report["unknown"]["rides"]:
        lines.append(f"unlabelled rides: {report['unknown']['rides']}, alerts raised: {report['unknown']['raises']}")
    for name in ("detector", "rule"):
        c = frames[name]
        lines.append(f"frames, {name}: tp {c['tp']} fp {c['fp']} fn {c['fn']} tn {c['tn']}, "
                     f"precision {_fmt(c['precision'])}, recall {_fmt(c['recall'])}")
    rows = report["per_original"].items()
    lines.append("per original: " + "; ".join(
        f"{name} " + " ".join(f"{k}={v}" for k, v in sorted(row.items())) for name, row in rows))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.fps <= 0 or args.ride_s <= 0 or args.negative_hours < 0 or not 0 <= args.crop_share <= 1:
        print("error: --fps and --ride-s must be positive, --negative-hours >= 0, --crop-share in [0, 1]",
              file=sys.stderr)
        return 2
    try:
        report = evaluate(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1) if args.json else render(report))
    return 0
