"""`gridwatch sim water`: publish a simulated meter fleet, or replay the DAIAD trial, over MQTT."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from ingest.wire.timestamps import TimestampError, parse_ts
from simulators.cli_flags import add_broker_arguments
from simulators.water.daiad import DEFAULT_PATH as DAIAD_PATH
from simulators.water.daiad import DaiadFormatError, publish_daiad
from simulators.water.model import ScenarioSpec
from simulators.water.runner import run, run_live

DEFAULT_SPEED = 10_000.0  # three simulated days in about 26 s


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_broker_arguments(parser)
    parser.add_argument("--meter-prefix", default="meter", help="meter ids are <meter-prefix>-001, ...")
    parser.add_argument("--meters", type=int, default=20, help="number of meters (default: 20)")
    parser.add_argument("--days", type=float, default=3.0, help="simulated days (default: 3)")
    parser.add_argument("--interval", type=int, choices=(15, 60), default=15, help="reporting interval, minutes")
    parser.add_argument("--mixed-intervals", action="store_true", help="a third of the meters report hourly")
    parser.add_argument("--mix", choices=("classic", "frugal", "mixed"), default="classic",
                        help="households: classic (elderly and standard), frugal (frugal elderly homes), mixed "
                             "(frugal, late sleepers, night shifts, visitors, 10-L pulse meters, hourly meters, "
                             "hourly batch uploads; night drips and cistern leaks among the events)")
    parser.add_argument("--elderly-share", type=float, default=0.7, help="share of elderly_alone homes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", help="first event time, RFC 3339 (default: now - days)")
    parser.add_argument("--speed", type=float, default=None,
                        help=f"event seconds per wall second; 0 = as fast as possible "
                             f"(default: {DEFAULT_SPEED:.0f} for a scenario, 0 for a replay)")
    parser.add_argument("--batch", type=int, default=1, help="readings per message (default: 1)")
    parser.add_argument("--no-events", action="store_true", help="clean households only")
    parser.add_argument("--no-faults", action="store_true", help="no duplicates, reorders, late or bad payloads")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write truth.jsonl, meters.json, registry.yaml here")
    parser.add_argument("--live", action="store_true",
                        help="after the compressed days, keep reporting in real time until Ctrl-C")
    parser.add_argument("--replay-daiad", nargs="?", const=str(DAIAD_PATH), metavar="PATH",
                        help=f"replay the DAIAD trial instead (default file: {DAIAD_PATH})")
    parser.add_argument("--households", type=int, help="DAIAD replay: only the first N households")
    parser.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to wait for the broker")


def main(args: argparse.Namespace) -> int:
    speed = args.speed
    if speed is not None and speed < 0:
        print("error: --speed must be 0 or more", file=sys.stderr)
        return 2
    try:
        if args.replay_daiad:
            result = publish_daiad(args.broker, Path(args.replay_daiad), args.households,
                                   speed=speed or None, topic_prefix=args.topic_prefix,
                                   connect_timeout=args.connect_timeout)
            print(f"DAIAD replay: published {result['published']} of {result['rows']} readings from "
                  f"{result['households']} households in {result['wall_s']:.2f} s"
                  + ("" if result["delivered"] else "; NOT all acknowledged by the broker"))
            return 0 if result["delivered"] else 1
        spec = ScenarioSpec(
            meters=args.meters, days=args.days, interval_min=float(args.interval), seed=args.seed,
            start=parse_ts(args.start) if args.start else None, elderly_share=args.elderly_share,
            events=not args.no_events, faults=not args.no_faults, batch=args.batch, prefix=args.meter_prefix,
            mixed_intervals=args.mixed_intervals, mix=args.mix,
        )
        pace = DEFAULT_SPEED if speed is None else (speed or None)
        if args.live:
            stop = threading.Event()
            try:
                report = run_live(spec, args.broker, pace, stop, topic_prefix=args.topic_prefix, out_dir=args.out,
                                  connect_timeout=args.connect_timeout)
            except KeyboardInterrupt:
                stop.set()
                return 0
        else:
            report = run(spec, args.broker, topic_prefix=args.topic_prefix, speed=pace, out_dir=args.out,
                         connect_timeout=args.connect_timeout)
    except (ConnectionError, TimeoutError, ValueError, TimestampError, DaiadFormatError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.line())
    return 0 if report.delivered else 1


def standalone(argv: list[str] | None = None) -> int:
    """`python -m simulators.water.cli`, until the lead wires it into `gridwatch sim water`."""
    parser = argparse.ArgumentParser(prog="gridwatch sim water", description=__doc__)
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(standalone())
