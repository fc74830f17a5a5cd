"""`gridwatch`: one console script. It parses arguments, validates config, and hands over."""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import signal
import sys
import threading
from pathlib import Path

from edge.errors import CommandError
from ingest.yamlconf import ConfigError, load_yaml

REGISTRY_KEYS = {"grids", "workers", "buildings", "meters", "elevators", "stations"}
DISPATCH_KEYS = {"listen", "auth", "sla", "push", "timezone", "store"}


def known_failures() -> tuple[type[BaseException], ...]:
    """What a command may end with that a person can act on: printed as one line, never a traceback."""
    from dispatch.auth import AuthConfigError

    return (CommandError, ConfigError, AuthConfigError, FileNotFoundError, IsADirectoryError, PermissionError)


def missing_secrets(mqtt, where: str) -> list[str]:
    """An MQTT password named by the config but absent from the environment and /run/secrets."""
    from ingest.config import secret

    if mqtt is None or not mqtt.password_env or secret(mqtt.password_env) is not None:
        return []
    return [f"{where}: mqtt.password_env names {mqtt.password_env}, which is not set (neither in the environment "
            f"nor as /run/secrets/{mqtt.password_env})"]


def _missing_camera_secrets(registry, where) -> list[str]:
    """A camera source's `${NAME}` credentials that are not set: the camera could never connect."""
    from ingest.config import secret
    from ingest.registry import source_secrets

    return [f"{where}: elevator {e.id}: its source names {name}, which is not set (neither in the environment nor "
            f"as /run/secrets/{name})"
            for e in registry.elevators for name in source_secrets(e.source) if secret(name) is None]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


def cmd_check(args: argparse.Namespace) -> int:
    """Validate edge configs, dispatch configs or registries, every error with its line; then what
    each partition owns (edge configs with `partition:`, or a registry with --partitions N)."""
    results = [_check_one(Path(f), args.kind) for f in args.file]
    if any(r is None for r in results):
        return 1
    named = [(str(path), config.partition, registry) for path, config, registry in
             (r for r in results if r is not None) if getattr(config, "partition", None) is not None]
    if args.partitions and results[0] is not None and results[0][2] is not None:
        from edge.partition_view import hash_partitions

        registry = results[0][2]
        named += [(name, part, registry) for name, part in hash_partitions(args.partitions)]
    if named:
        from edge.partition_view import partition_table

        for line in partition_table([(n, p) for n, p, _r in named], named[0][2]):
            print(line)
    return 0


def _check_one(path: Path, kind_asked: str | None):
    """(path, config or None, registry or None) when valid; None after printing the errors."""
    from dispatch.config import DispatchConfig
    from edge.config import EdgeConfig, load_registry
    from ingest.registry import Registry
    from ingest.yamlconf import validate_file

    config, registry = None, None
    try:
        data, _ = load_yaml(path)
        kind = kind_asked or _guess_kind(set(data) if isinstance(data, dict) else set())
        errors: list[str] = []
        registry_path = None
        if kind == "registry":
            registry = load_registry(path)
            summary = (f"registry: {len(registry.grids)} grids, {len(registry.workers)} workers, "
                       f"{len(registry.buildings)} buildings, {len(registry.meters)} meters, "
                       f"{len(registry.elevators)} elevators")
        else:
            model = DispatchConfig if kind == "dispatch" else EdgeConfig
            config = validate_file(model, path)
            registry_path = config.registry
            summary = f"{kind} config"
            if kind == "edge" and config.elevator.enabled:
                errors += _elevator_model_errors(path, config.elevator)
        if registry_path is not None:
            try:
                registry = load_registry(registry_path)
                summary += f", registry {registry_path}"
            except ConfigError as exc:
                errors += exc.errors
        if errors:
            raise ConfigError(errors)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        print(f"{path}: {len(exc.errors)} error(s)", file=sys.stderr)
        return None
    print(f"{path}: OK ({summary})")
    return path, config, registry if registry is not None else Registry()


def _guess_kind(keys: set[str]) -> str:
    """The kind whose own keys the file shares most (a typo'd key must not turn a registry into an edge config)."""
    if keys & DISPATCH_KEYS:
        return "dispatch"
    from edge.config import EdgeConfig

    edge_keys = set(EdgeConfig.model_fields)
    registry_like = {k for k in keys - edge_keys if difflib.get_close_matches(k, REGISTRY_KEYS, n=1, cutoff=0.75)}
    return "registry" if keys and len(registry_like) * 2 > len(keys) else "edge"


def _elevator_model_errors(path: Path, elevator) -> list[str]:
    """The e-bike model loads and detects the configured e-bike classes (else the worker would fail at start)."""
    from ingest.yamlconf import line_of
    from models.vision.model_file import DEFAULT_EBIKE_MODEL, read_model_info

    _, lines = load_yaml(path)

    def where(*loc: str) -> str:
        line = line_of(lines, ("elevator", *loc))
        return f"{path}:{line}" if line else str(path)

    model = elevator.model or DEFAULT_EBIKE_MODEL
    try:
        info = read_model_info(model)
    except FileNotFoundError:
        return [f"{where('model')}: elevator.model: no model file at {model}"]
    except Exception as exc:  # a foreign or corrupt file: ONNX Runtime raises its own types
        return [f"{where('model')}: elevator.model: cannot load {model}: {exc}"]
    missing = [c for c in elevator.ebike.ebike_classes if c not in info.class_names]
    if missing:
        return [f"{where('ebike', 'ebike_classes')}: elevator.ebike.ebike_classes: {missing} not among the "
                f"classes of {model}: {list(info.class_names)}"]
    return _decision_card_errors(model, elevator, where)


def _decision_card_errors(model: Path, elevator, where) -> list[str]:
    """The model's decision card reads, names a verifier that exists, and has the operating point asked for."""
    from pydantic import ValidationError

    from models.vision.decision import DecisionCard

    card_path = DecisionCard.path_for(model)
    try:
        card = DecisionCard.for_model(model)
    except (ValidationError, ValueError) as exc:
        return [f"{card_path}: not a decision card: {exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc}"]
    errors = []
    verifier = card.verifier_path(model) if card else None
    if verifier is not None and elevator.verify and not verifier.is_file():
        errors.append(f"{card_path}: verifier: no file at {verifier}")
    try:
        elevator.ebike.resolved(card)
    except ValueError as exc:
        errors.append(f"{where('ebike', 'operating_point')}: elevator.ebike.operating_point: {exc}")
    return errors


def _load(config_loader, path: str | None, cameras: bool = False):
    """(config, registry), or None after printing every error with its line."""
    from edge.config import load_registry

    try:
        config = config_loader(path)
        loaded = config, load_registry(config.registry)
        problems = missing_secrets(config.mqtt, str(path or "defaults"))
        if cameras:  # the edge opens them; dispatch only names them
            problems += _missing_camera_secrets(loaded[1], config.registry)
        if problems:
            raise ConfigError(problems)
        return loaded
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def cmd_edge(args: argparse.Namespace) -> int:
    from edge.config import load_edge_config
    from edge.worker import EdgeWorker

    loaded = _load(load_edge_config, args.config, cameras=True)
    if loaded is None:
        return 1
    config, registry = loaded
    worker = EdgeWorker(config, registry)
    worker.start()
    logging.getLogger("gridwatch").info("edge %s running; Ctrl-C stops it", config.edge_id)
    _wait_for_signal()
    worker.stop()
    return 0


def cmd_dispatch(args: argparse.Namespace) -> int:
    from dispatch.config import StoreConfigError, load_dispatch_config
    from dispatch.server import serve
    from dispatch.store_schema import SchemaError

    loaded = _load(load_dispatch_config, args.config)
    if loaded is None:
        return 1
    try:
        serve(*loaded)
    except (StoreConfigError, SchemaError) as exc:
        print(f"gridwatch dispatch: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # psycopg.OperationalError and kin: say which database, not a traceback
        if type(exc).__module__.startswith("psycopg"):
            print(f"gridwatch dispatch: cannot open the PostgreSQL store: {exc}", file=sys.stderr)
            return 1
        raise
    return 0


def _mount(parsers: argparse._SubParsersAction, name: str, help: str, module: str, func: str = "main") -> None:
    """A subcommand whose module owns its arguments (`add_arguments`) and its entry point."""
    cli = importlib.import_module(module)
    parser = parsers.add_parser(name, help=help)
    cli.add_arguments(parser)
    parser.set_defaults(func=getattr(cli, func))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridwatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="broker, dispatch, edge and simulator in one go")
    # The subcommands' modules are imported here anyway (for their arguments): each names its own entry point.
    from edge.demo import add_arguments as demo_arguments
    from edge.demo import run_demo

    demo_arguments(demo)
    demo.set_defaults(func=run_demo)

    edge = sub.add_parser("edge", help="run an edge worker")
    edge.add_argument("--config", help="edge.yaml (default: embedded defaults)")
    edge.set_defaults(func=cmd_edge)

    dispatch = sub.add_parser("dispatch", help="run the dispatch endpoint")
    dispatch.add_argument("--config", help="dispatch.yaml (default: embedded defaults)")
    dispatch.set_defaults(func=cmd_dispatch)
    dispatch_sub = dispatch.add_subparsers(dest="dispatch_command")
    from dispatch import store_import

    store_import.add_arguments(dispatch_sub.add_parser(
        "migrate", help="apply the store's schema migrations; --from-sqlite imports a SQLite store into PostgreSQL"))

    sim = sub.add_parser("sim", help="simulators").add_subparsers(dest="sim", required=True)
    _mount(sim, "water", "a fleet of smart water meters, or a replay of the DAIAD trial", "simulators.water.cli")
    _mount(sim, "elevator", "elevator cameras and boxes playing rides with e-bikes and without",
           "simulators.elevator.cli")
    _mount(sim, "workers", "grid workers' phones: take dispatched alerts, accept, arrive, resolve",
           "simulators.workers.cli", func="run")

    evaluate = sub.add_parser("eval", help="score detectors and rules").add_subparsers(dest="eval", required=True)
    _mount(evaluate, "water", "water rules against simulated ground truth and DAIAD", "edge.evaluation.cli")
    _mount(evaluate, "elevator", "the e-bike detector and rule on rides with ground truth", "edge.evaluation.elevator")
    _mount(sub, "model", "detector tooling: train, export, evaluate", "models.training.cli")
    _mount(sub, "acl", "the Mosquitto ACL of a site from its registry (one user per device)", "edge.acl")

    check = sub.add_parser("check", help="validate a config or registry file")
    check.add_argument("file", nargs="+", help="one file, or a district's edge configs to see their partitions")
    check.add_argument("--kind", choices=["edge", "dispatch", "registry"], help="default: guessed from the keys")
    check.add_argument("--partitions", type=int, metavar="N",
                       help="with a registry: what each of N hash partitions would own")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except known_failures() as exc:
        message = str(exc) if not isinstance(exc, OSError) or not exc.filename else \
            f"{exc.filename}: {exc.strerror or exc}"
        print(f"gridwatch {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
