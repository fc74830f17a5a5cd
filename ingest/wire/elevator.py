"""Elevator box payloads: `grid/elevator/{id}/status` (box → edge) and `grid/elevator/{id}/command` (edge → box).

Frames (`grid/elevator/{id}/frame`) are raw JPEG bytes with no JSON body, so they have no model here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ingest.wire.water import Timestamp

DoorState = Literal["open", "closed"]
CommandAction = Literal["hold_door", "release_door", "announce"]

# A floor is a number (12, -1) or a label as the box shows it ("B1", "G").
Floor = StrictInt | Annotated[str, Field(min_length=1, max_length=16)]


class ElevatorStatus(BaseModel):
    """What the elevator box reports: the door state, and the floor when it knows it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ts: Timestamp
    door: DoorState
    floor: Floor | None = None

    def dump(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class ElevatorCommand(BaseModel):
    """A linkage command the edge sends to the elevator box; `alert_id` names the episode that asked for it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action: CommandAction
    alert_id: str | None = Field(default=None, min_length=1, max_length=128)
    text: str | None = Field(default=None, min_length=1, max_length=500)
    ts: Timestamp

    def dump(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()
