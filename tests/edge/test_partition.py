"""Partitioned edge workers: who owns what, the same in every process; `gridwatch check` shows it;
a partitioned worker at a real Mosquitto receives exactly its own meters' readings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from edge.broker import Mosquitto, free_port
from edge.cli import main
from edge.config import load_edge_config, load_registry
from edge.partition import PartitionConfig, share_of
from edge.worker import EdgeWorker
from ingest.registry import Registry
from ingest.topics import Topics
from simulators.water.publish import MqttPublisher
from tests.e2e.harness import wait_for


def district(meters: int = 3000, buildings: int = 30, elevators: int = 12) -> Registry:
    return Registry.model_validate({
        "grids": [{"id": "g1"}],
        "buildings": [{"id": f"b{b}", "grid": "g1"} for b in range(buildings)],
        "meters": [{"id": f"m-{i:05d}", "building": f"b{i % buildings}"} for i in range(meters)],
        "elevators": [{"id": f"elev-{i}", "building": f"b{i % buildings}"} for i in range(elevators)],
    })


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"buildings": ["b1"], "index": 0, "count": 2}, "not both"),
        ({}, "needs buildings"),
        ({"index": 1}, "both index and count"),
        ({"index": 3, "count": 3}, "not below count"),
        ({"buildings": []}, "at least one building"),
    ],
)
def test_a_partition_is_one_thing_or_the_other(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PartitionConfig(**fields)


def test_hash_partitions_own_every_subject_once_and_evenly() -> None:
    registry = district()
    shares = [share_of(PartitionConfig(index=i, count=3), registry) for i in range(3)]
    meters = [m for s in shares for m in s.meters]
    assert sorted(meters) == sorted(m.id for m in registry.meters)  # each once
    assert sorted(e for s in shares for e in s.elevators) == sorted(e.id for e in registry.elevators)
    assert all(900 <= len(s.meters) <= 1100 for s in shares), [len(s.meters) for s in shares]


def test_the_hash_is_the_same_in_every_process() -> None:
    """Python's own hash() of a str changes per process; a partition must not."""
    code = ("from edge.partition import PartitionConfig, share_of; from tests.edge.test_partition import district;"
            "print(share_of(PartitionConfig(index=1, count=3), district()).meters[:50])")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1


def test_gridwatch_check_shows_what_each_partition_owns_and_what_none_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(yaml.safe_dump(district(300, 3, 3).model_dump(exclude_none=True)))
    files = []
    for name, buildings in (("edge-a", ["b0"]), ("edge-b", ["b1"])):  # b2 forgotten
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(f"""\
            edge_id: {name}
            registry: registry.yaml
            elevator: {{enabled: false}}
            partition: {{buildings: {json.dumps(buildings)}}}
            """))
        files.append(str(path))
    assert main(["check", *files]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(str(tmp_path)) and "buildings b" in line]
    assert [(r[3], r[4], r[5]) for r in rows] == [("100", "1", "1"), ("100", "1", "1")]  # meters, elevators, buildings
    assert "owned by no partition: 100 meters, 1 elevators" in out

    assert main(["check", str(registry_path), "--partitions", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("hash partition") == 3
    assert "every one of 300 meters and 3 elevators has exactly one partition" in out


def test_a_partitioned_worker_takes_exactly_its_own_meters(tmp_path: Path, mosquitto: Mosquitto,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDWATCH_TOKEN", "t")
    registry = district(200, 4, 0)
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(yaml.safe_dump(registry.model_dump(exclude_none=True)))
    config_path = tmp_path / "edge.yaml"
    config_path.write_text(yaml.safe_dump({
        "edge_id": "edge-p1", "mqtt": {"url": mosquitto.url}, "registry": str(registry_path),
        "state_dir": str(tmp_path / "state"), "health_listen": None, "elevator": {"enabled": False},
        "dispatch": {"url": f"http://127.0.0.1:{free_port()}/api/v1/alerts"},
        "partition": {"index": 1, "count": 4}}))
    worker = EdgeWorker(load_edge_config(config_path), load_registry(registry_path))
    own = set(worker.share.meters)
    assert worker.mqtt.subscriptions == worker.share.topics(Topics(), elevators=False)
    assert not any("+" in t or "#" in t for t in worker.mqtt.subscriptions)
    worker.start()
    publisher = MqttPublisher(mosquitto.url, f"pub-{free_port()}")
    try:
        assert worker.mqtt.wait_subscribed(10)
        for meter in registry.meters:
            publisher.publish(Topics().water_reading(meter.id), json.dumps({"ts": 1_790_000_000, "total_l": 1.0}))
        publisher.flush(30)
        wait_for(lambda: worker.stats.messages >= len(own), 20, "the worker's own readings")
        time.sleep(0.5)  # room for a reading it should not have had
        assert worker.stats.messages == len(own) == worker.rules.meters()
        assert 30 <= len(own) <= 70  # about a quarter of 200
    finally:
        publisher.close()
        worker.stop()
