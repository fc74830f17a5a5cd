"""Topic names of the contract, built and parsed in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TopicKind = Literal[
    "water_reading", "water_away", "elevator_frame", "elevator_status", "elevator_command"
]

_SUFFIXES: dict[tuple[str, str], TopicKind] = {
    ("water", "reading"): "water_reading",
    ("water", "away"): "water_away",
    ("elevator", "frame"): "elevator_frame",
    ("elevator", "status"): "elevator_status",
    ("elevator", "command"): "elevator_command",
}


@dataclass(frozen=True, slots=True)
class Route:
    kind: TopicKind
    subject: str  # meter_id or elevator_id


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "grid"

    def water_reading(self, meter_id: str) -> str:
        return f"{self.prefix}/water/{meter_id}/reading"

    def water_away(self, meter_id: str) -> str:
        return f"{self.prefix}/water/{meter_id}/away"

    def elevator_frame(self, elevator_id: str) -> str:
        return f"{self.prefix}/elevator/{elevator_id}/frame"

    def elevator_status(self, elevator_id: str) -> str:
        return f"{self.prefix}/elevator/{elevator_id}/status"

    def elevator_command(self, elevator_id: str) -> str:
        return f"{self.prefix}/elevator/{elevator_id}/command"

    def alerts(self, grid_id: str | None) -> str:
        return f"{self.prefix}/alerts/{grid_id or 'unassigned'}"

    def worker_notify(self, worker_id: str) -> str:
        return f"{self.prefix}/workers/{worker_id}/notify"

    def deadletter(self, edge_id: str) -> str:
        return f"{self.prefix}/deadletter/{edge_id}"

    def water_subscriptions(self) -> list[str]:
        return [f"{self.prefix}/water/+/reading", f"{self.prefix}/water/+/away"]

    def elevator_subscriptions(self) -> list[str]:
        """What an edge running the e-bike pipeline consumes: camera frames and door status."""
        return [f"{self.prefix}/elevator/+/frame", f"{self.prefix}/elevator/+/status"]

    def parse(self, topic: str) -> Route | None:
        """The route of an inbound topic, or None when it is not one the edge consumes."""
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != self.prefix or not parts[2]:
            return None
        kind = _SUFFIXES.get((parts[1], parts[3]))
        return Route(kind, parts[2]) if kind else None
