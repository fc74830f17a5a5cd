"""`gridwatch sim elevator`: elevator cameras and boxes playing rides over MQTT, with ground truth."""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # OpenCV and paho load when a command runs, not when `gridwatch --help` builds its parser
    from simulators.elevator.footage import Ride
    from simulators.elevator.sources import Source

DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "vision" / "ebike-elevator" / "yolo"


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The footage options shared by `sim elevator` and `eval elevator`."""
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="a labelled YOLO set (images/ + labels/), an image folder, an image or a video "
                             f"(default: {DEFAULT_SOURCE})")
    parser.add_argument("--labels", type=Path, help="YOLO labels folder for an image folder (class 0 = ebike)")
    parser.add_argument("--split", type=Path,
                        help="split file: only its val_originals are played (default: models/weights/ebike.split"
                             ".json when it exists)")
    parser.add_argument("--all-originals", action="store_true", help="ignore the split: play every original")
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second (default 5)")
    parser.add_argument("--ride-s", type=float, default=20.0, help="seconds the scene is in view per ride (default 20)")
    parser.add_argument("--seed", type=int, default=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--elevators", type=int, default=1, help="cars playing in parallel (sim-elev-01, ...)")
    parser.add_argument("--rides", type=int, default=4, help="rides per elevator (default 4)")
    parser.add_argument("--loop", action="store_true", help="keep playing rides until Ctrl-C")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883", metavar="URL")
    parser.add_argument("--topic-prefix", default="grid")
    parser.add_argument("--truth", type=Path, help="ground truth JSONL, one line per ride")
    parser.add_argument("--connect-timeout", type=float, default=10.0)


def load_source(args: argparse.Namespace) -> Source:
    from simulators.elevator.sources import open_source, read_split

    split, split_file = (None, None) if args.all_originals else read_split(args.split)
    source = open_source(args.source, args.labels, split if split is not None else None, split_file)
    if source.kind != "labelled" and args.split is not None:
        raise ValueError(f"--split needs a labelled source; {args.source} has no labels")
    return source


def describe(source: Source) -> str:
    if source.kind == "labelled":
        split = f" held out by {source.split_file}" if source.split_file else " (all, no split)"
        return f"{len(source.scored)} originals{split}: {', '.join(source.scored)}"
    return f"{source.kind} {source.path} (truth unknown)"


def main(args: argparse.Namespace) -> int:
    from simulators.elevator.footage import RideSpec, ride_plan
    from simulators.elevator.publish import TruthWriter, elevator_ids, open_truth, run_elevators

    if args.elevators < 1 or args.rides < 1 or args.fps <= 0 or args.ride_s <= 0:
        print("error: --elevators, --rides, --fps and --ride-s must be positive", file=sys.stderr)
        return 2
    try:
        source = load_source(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"footage: {describe(source)}", flush=True)
    spec = RideSpec(fps=args.fps, ride_s=args.ride_s)

    def plan_for(index: int):
        def rides() -> Iterator[Ride]:
            plan = ride_plan(source, spec, args.seed + index, start=index)
            return plan if args.loop else itertools.islice(plan, args.rides)
        return rides

    plans = {eid: plan_for(i) for i, eid in enumerate(elevator_ids(args.elevators))}
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    stream = open_truth(args.truth)
    try:
        report = run_elevators(args.broker, plans, TruthWriter(stream), stop, args.topic_prefix,
                               args.connect_timeout)
    except (ConnectionError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if stream is not None:
            stream.close()
    print(report.line())
    return 1 if report.failed else 0
