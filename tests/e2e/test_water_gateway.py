"""A building whose meters all fall silent reaches dispatch as one water.gateway_offline, placed on its grid."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from edge.broker import Mosquitto, free_port
from simulators.water.scenario import ScenarioSpec, generate
from tests.e2e.harness import TOKENS, Dispatch, assert_none_twice, start_worker, wait_for
from tests.e2e.test_water_pipeline import publish


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


def test_a_silent_building_is_one_gateway_alert_not_four_meter_alerts(tmp_path: Path, mosquitto: Mosquitto) -> None:
    scenario = generate(ScenarioSpec(meters=8, days=1.5, interval_min=15, seed=4, events=False, faults=False))
    scenario.write(tmp_path / "scenario")
    registry_path = tmp_path / "scenario" / "registry.yaml"
    building = {m["id"]: m["building"] for m in scenario.registry()["meters"]}
    silent = {mid for mid, b in building.items() if b == "b-01"}
    assert len(silent) == 4
    lo, hi = scenario.start + timedelta(hours=8), scenario.start + timedelta(hours=16)
    messages = [m for m in scenario.messages if not (m.meter in silent and lo <= m.event_time < hi)]

    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    worker = start_worker(tmp_path, mosquitto.url, dispatch, registry_path)
    try:
        publish(mosquitto.url, messages)
        wait_for(lambda: worker.stats.messages >= len(messages), 120, "the edge to take every message")
        wait_for(lambda: worker.outbox.stats()["pending_http"] == 0, 60, "the outbox to drain")
        changes = dispatch.changes()
    finally:
        worker.stop()
        dispatch.stop()

    assert_none_twice(changes)
    offline = [(c["type"], c["subject"], c["state"]) for c in changes
               if c["type"] in ("water.meter_offline", "water.gateway_offline")]
    assert sorted(offline) == [("water.gateway_offline", "b-01", "active"),
                               ("water.gateway_offline", "b-01", "cleared")]
    raised = next(c for c in changes if c["type"] == "water.gateway_offline" and c["state"] == "active")
    assert raised["building"] == "b-01" and raised["grid"] == "g-01"
    assert "All 4 meters of building b-01" in raised["summary"]
