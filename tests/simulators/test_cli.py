"""`gridwatch sim water` as a user runs it: a summary line, the truth on disk, clear errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from edge.broker import free_port
from simulators.water import cli


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_sim_water_publishes_and_writes_the_truth(mosquitto, subscriber, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code = cli.main(parse("--mqtt", mosquitto.url, "--meters", "8", "--days", "2", "--seed", "3",
                          "--speed", "0", "--out", str(out)))
    assert code == 0
    line = capsys.readouterr().out.strip()
    summary = json.loads((out / "messages.json").read_text())
    assert line.startswith(f"published {summary['messages']}/{summary['messages']} messages")
    assert f"{summary['malformed']} malformed" in line and "events:" in line
    assert subscriber.wait_for(summary["messages"], 20) == summary["messages"]
    assert len(yaml.safe_load((out / "registry.yaml").read_text())["meters"]) == 8
    assert (out / "truth.jsonl").read_text().count("\n") == sum(summary["events"].values()) >= 1


def test_hourly_batched_clean_run(mosquitto, subscriber, capsys) -> None:
    code = cli.main(parse("--mqtt", mosquitto.url, "--meters", "3", "--days", "1", "--interval", "60",
                          "--batch", "6", "--no-events", "--no-faults", "--speed", "0"))
    assert code == 0
    assert "0 malformed" in capsys.readouterr().out
    assert subscriber.wait_for(3 * 4, 10) >= 3 * 4  # 24 hourly readings in batches of six
    batch = json.loads(subscriber.messages[0].payload)
    assert len(batch["readings"]) == 6


def test_no_broker_exits_2_with_a_message(capsys) -> None:
    code = cli.main(parse("--mqtt", f"mqtt://127.0.0.1:{free_port()}", "--meters", "1", "--days", "0.1",
                          "--connect-timeout", "0.5"))
    assert code == 2
    assert "no MQTT broker answered" in capsys.readouterr().err


def test_bad_arguments_exit_2(capsys) -> None:
    assert cli.main(parse("--meters", "0")) == 2
    assert "positive" in capsys.readouterr().err
    assert cli.main(parse("--start", "yesterday")) == 2
    assert cli.main(parse("--replay-daiad", "/nonexistent/swm.csv", "--connect-timeout", "0.5")) == 2
