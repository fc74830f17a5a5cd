"""`gridwatch sim workers`: grid workers' phones that take dispatched alerts and accept, arrive, resolve."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

import yaml

from ingest.config import MqttConfig
from simulators.cli_flags import add_broker_arguments
from simulators.workers.simulator import WorkerSimulator

log = logging.getLogger(__name__)


class TokensError(ValueError):
    pass


def load_tokens(path: Path) -> dict[str, str]:
    """A YAML or JSON map worker_id -> API token (JSON is YAML too)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TokensError(f"tokens file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokensError(f"cannot read tokens file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise TokensError(f"tokens file {path} is not YAML or JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise TokensError(f"tokens file {path} must map worker ids to tokens, e.g. `w1: <token>`")
    bad = [str(k) for k, v in data.items() if not isinstance(v, str) or not v or not str(k)]
    if bad:
        raise TokensError(f"tokens file {path}: no token (a non-empty string) for worker(s) {', '.join(bad)}")
    return {str(k): v for k, v in data.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens", type=Path, required=True, metavar="FILE",
                        help="YAML or JSON map worker_id -> API token; only these workers are simulated")
    parser.add_argument("--dispatch", default="http://127.0.0.1:8600", metavar="URL",
                        help="dispatch endpoint base URL (default: http://127.0.0.1:8600)")
    add_broker_arguments(parser)
    parser.add_argument("--speed", type=float, default=1.0,
                        help="divide the human delays by this (default: 1, real time; the demo uses 60)")
    parser.add_argument("--ignore", type=float, default=0.1,
                        help="chance that a worker never answers an alert (default: 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    try:
        tokens = load_tokens(args.tokens)
        mqtt = MqttConfig(url=args.broker, protocol=args.protocol, topic_prefix=args.topic_prefix)
        if args.duration is not None and args.duration <= 0:
            raise ValueError("--duration must be positive")
        simulator = WorkerSimulator(mqtt, args.dispatch, tokens, speed=args.speed, ignore=args.ignore,
                                    seed=args.seed, topic_prefix=args.topic_prefix)
    except ValueError as exc:  # TokensError and pydantic's ValidationError are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    simulator.start()
    try:
        if not simulator.wait_ready(10.0 if args.duration is None else min(10.0, args.duration)):
            log.warning("not every phone is subscribed yet at %s; still trying", args.broker)
        # --duration counts from the start, the wait for the broker included.
        left = None if args.duration is None else max(0.0, args.duration - (time.monotonic() - started))
        threading.Event().wait(left)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    counts = simulator.counters()
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


main = run  # the name `gridwatch` uses for the other simulators


def standalone(argv: list[str] | None = None) -> int:
    """`python -m simulators.workers.cli`."""
    parser = argparse.ArgumentParser(prog="gridwatch sim workers", description=__doc__)
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(standalone())
