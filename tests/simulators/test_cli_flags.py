"""Every simulator takes the broker flags under one spelling, and the old spellings still work."""

from __future__ import annotations

import argparse

import pytest

from simulators.elevator import cli as elevator_cli
from simulators.water import cli as water_cli
from simulators.workers import cli as workers_cli

SIMULATORS = [water_cli, elevator_cli, workers_cli]
REQUIRED = {workers_cli: ["--tokens", "t.yaml"]}


def parse(module, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args([*REQUIRED.get(module, []), *argv])


@pytest.mark.parametrize("module", SIMULATORS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("flags", [
    ("--broker", "--topic-prefix", "--protocol"),
    ("--mqtt", "--prefix", "--mqtt-protocol"),
], ids=["unified", "old spellings"])
def test_each_simulator_takes_the_same_broker_flags(module, flags: tuple[str, str, str]) -> None:
    broker, prefix, protocol = flags
    args = parse(module, broker, "mqtt://h:1884", prefix, "site7", protocol, "3.1.1")
    assert (args.broker, args.topic_prefix, args.protocol) == ("mqtt://h:1884", "site7", "3.1.1")
