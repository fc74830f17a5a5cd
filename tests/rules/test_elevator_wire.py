"""The elevator box's wire formats: status in, commands out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from ingest.wire.elevator import ElevatorCommand, ElevatorStatus

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "door", "floor"),
    [
        ({"ts": "2026-05-01T16:00:00+08:00", "door": "open"}, "open", None),
        ({"ts": 1777622400, "door": "closed", "floor": 12}, "closed", 12),
        ({"ts": 1777622400000, "door": "open", "floor": "B1"}, "open", "B1"),
        ({"ts": 1777622400, "door": "open", "car_load_kg": 80}, "open", None),  # unknown keys are ignored
    ],
)
def test_status_accepted(payload: dict, door: str, floor: object) -> None:
    status = ElevatorStatus.model_validate_json(json.dumps(payload))
    assert status.ts == T0
    assert (status.door, status.floor) == (door, floor)


@pytest.mark.parametrize(
    "payload",
    [
        {"ts": 1777622400, "door": "ajar"},
        {"ts": 1777622400, "door": "OPEN"},
        {"ts": 1777622400, "door": True},
        {"ts": 1777622400},
        {"door": "open"},
        {"ts": "yesterday", "door": "open"},
        {"ts": 1777622400, "door": "open", "floor": 3.5},
        {"ts": 1777622400, "door": "open", "floor": ""},
    ],
)
def test_status_rejected(payload: dict) -> None:
    with pytest.raises(ValidationError):
        ElevatorStatus.model_validate_json(json.dumps(payload))


def test_status_round_trip() -> None:
    status = ElevatorStatus(ts=T0, door="closed", floor=-1)
    assert ElevatorStatus.model_validate_json(status.dump()) == status
    assert json.loads(status.dump()) == {"ts": "2026-05-01T08:00:00Z", "door": "closed", "floor": -1}


def test_command_dump_keeps_chinese_and_drops_absent_fields() -> None:
    command = ElevatorCommand(action="announce", alert_id="elevator.ebike:0123", text="请将电动车推出电梯", ts=T0)
    body = json.loads(command.dump().decode("utf-8"))
    assert body == {"action": "announce", "alert_id": "elevator.ebike:0123", "text": "请将电动车推出电梯",
                    "ts": "2026-05-01T08:00:00Z"}
    assert json.loads(ElevatorCommand(action="release_door", ts=T0).dump()) == {
        "action": "release_door", "ts": "2026-05-01T08:00:00Z"}
    assert ElevatorCommand.model_validate_json(command.dump()) == command


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "open_door", "ts": 1777622400},
        {"action": "hold_door"},
        {"action": "announce", "text": "", "ts": 1777622400},
    ],
)
def test_command_rejected(payload: dict) -> None:
    with pytest.raises(ValidationError):
        ElevatorCommand.model_validate(payload)
