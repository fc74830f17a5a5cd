"""`gridwatch sim elevator`: elevator cameras and boxes playing rides over MQTT, with ground truth."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from simulators.cli_flags import add_broker_arguments

if TYPE_CHECKING:  # OpenCV and paho load when a command runs, not when `gridwatch --help` builds its parser
    from simulators.elevator.footage import Ride, RideSpec
    from simulators.elevator.sources import Source

RIDE_KINDS = ("positive", "crop", "inpaint")

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


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("name at least one original")
    return names


def _kinds(text: str) -> tuple[str, ...]:
    kinds = _names(text)
    wrong = [k for k in kinds if k not in RIDE_KINDS]
    if wrong:
        raise argparse.ArgumentTypeError(f"unknown ride kind(s) {', '.join(wrong)}; known: {', '.join(RIDE_KINDS)}")
    return kinds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--elevators", type=int, default=1, help="cars playing in parallel (sim-elev-01, ...)")
    parser.add_argument("--rides", type=int, default=4, help="rides per elevator (default 4)")
    parser.add_argument("--loop", action="store_true", help="keep playing rides until Ctrl-C")
    parser.add_argument("--only", type=_names, default=None, metavar="NAME,...",
                        help="play only these originals of a labelled source (e.g. Snipaste_2024-01-01_12-07-27)")
    parser.add_argument("--kinds", type=_kinds, default=None, metavar="KIND,...",
                        help="each elevator plays rides of these kinds in this order, over and over "
                             "(positive, crop, inpaint; a labelled source); default: per original in turn "
                             "positive, crop, positive, inpaint")
    add_broker_arguments(parser, "MQTT version (default 5; 3.1.1 for brokers without v5: frames then carry no `ts`)")
    parser.add_argument("--truth", type=Path, help="ground truth JSONL, one line per ride")
    parser.add_argument("--connect-timeout", type=float, default=10.0)


def load_source(args: argparse.Namespace) -> Source:
    from simulators.elevator.sources import open_source, read_split

    split, split_file = (None, None) if args.all_originals else read_split(args.split)
    source = open_source(args.source, args.labels, split if split is not None else None, split_file)
    if source.kind != "labelled" and args.split is not None:
        raise ValueError(f"--split needs a labelled source; {args.source} has no labels")
    originals = getattr(args, "only", None)  # `sim elevator --only`
    if originals:
        if source.kind != "labelled":
            raise ValueError(f"--only needs a labelled source; {args.source} has no labels")
        missing = sorted(set(originals) - {s.name for s in source.stills})
        if missing:
            raise ValueError(f"not among the source's originals{' (of the split)' if source.split_file else ''}: "
                             f"{', '.join(missing)}")
        stills = tuple(s for s in source.stills if s.name in originals)
        source = dataclasses.replace(source, stills=stills, scored=tuple(s.name for s in stills))
    if getattr(args, "kinds", None) and source.kind != "labelled":
        raise ValueError(f"--kinds needs a labelled source; {args.source} has no labels")
    return source


def kind_plan(source: Source, spec: RideSpec, seed: int, kinds: Sequence[str], start: int = 0) -> Iterator[Ride]:
    """Endless rides of `kinds` in that order; each kind walks the originals from `start` (skipping an original
    that cannot give that kind: no e-bike to show, no crop clear of it)."""
    from simulators.elevator.footage import negative_ride, positive_ride

    stills = source.stills
    cursors = dict.fromkeys(kinds, start)
    for j in itertools.count():
        kind = kinds[j % len(kinds)]
        seed_j = seed * 1_000_003 + j
        for _ in range(len(stills)):
            still = stills[cursors[kind] % len(stills)]
            cursors[kind] += 1
            if kind == "positive":
                ride = positive_ride(still, spec, seed_j) if still.ebike_boxes else None
            else:
                ride = negative_ride(still, kind, spec, seed_j)  # type: ignore[arg-type]
            if ride is not None:
                yield ride
                break
        else:
            raise ValueError(f"no {kind} ride can be made from the originals of {source.path}")


def elevator_plans(source: Source, spec: RideSpec, elevator_ids: Sequence[str], seed: int, rides: int | None,
                   kinds: Sequence[str] | None = None) -> dict[str, Callable[[], Iterator[Ride]]]:
    """Each elevator's rides (`rides` of them, None: endless); elevator i starts at the i-th original, seed+i."""
    from simulators.elevator.footage import ride_plan

    def plan_for(index: int) -> Callable[[], Iterator[Ride]]:
        def plan() -> Iterator[Ride]:
            endless = (kind_plan(source, spec, seed + index, kinds, start=index) if kinds
                       else ride_plan(source, spec, seed + index, start=index))
            return endless if rides is None else itertools.islice(endless, rides)
        return plan

    return {eid: plan_for(i) for i, eid in enumerate(elevator_ids)}


def describe(source: Source) -> str:
    if source.kind == "labelled":
        split = f" held out by {source.split_file}" if source.split_file else " (all, no split)"
        return f"{len(source.scored)} originals{split}: {', '.join(source.scored)}"
    return f"{source.kind} {source.path} (truth unknown)"


def main(args: argparse.Namespace) -> int:
    from simulators.elevator.footage import RideSpec
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
    plans = elevator_plans(source, spec, elevator_ids(args.elevators), args.seed, None if args.loop else args.rides,
                           args.kinds)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    stream = open_truth(args.truth)
    try:
        report = run_elevators(args.broker, plans, TruthWriter(stream), stop, args.topic_prefix,
                               args.connect_timeout, args.protocol)
    except (ConnectionError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if stream is not None:
            stream.close()
    print(report.line())
    return 1 if report.failed else 0
