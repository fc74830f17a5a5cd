"""The registry: who is where (grids, workers, buildings, meters, elevators).

The same shape is read from one YAML file by the edge and by dispatch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Id = str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grid(_Strict):
    id: Id
    name: str = ""
    workers: list[Id] = Field(default_factory=list)
    leader: Id | None = None


class Worker(_Strict):
    id: Id
    name: str = ""
    phone: str | None = None
    channels: list[str] = Field(default_factory=list, description="apprise URLs")
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class Building(_Strict):
    id: Id
    name: str = ""
    grid: Id | None = None


class Meter(_Strict):
    id: Id
    building: Id | None = None
    household: str | None = None
    profile: Literal["elderly_alone", "standard"] = "elderly_alone"
    # Per-meter overrides of the water rules' parameters (rules.water.thresholds); checked
    # against that model by `gridwatch check` and by the edge when it starts.
    thresholds: dict[str, Any] | None = None


class Elevator(_Strict):
    id: Id
    building: Id | None = None
    source: str | None = "mqtt"
    zone: list[tuple[float, float]] | None = None


class Registry(_Strict):
    grids: list[Grid] = Field(default_factory=list)
    workers: list[Worker] = Field(default_factory=list)
    buildings: list[Building] = Field(default_factory=list)
    meters: list[Meter] = Field(default_factory=list)
    elevators: list[Elevator] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> Registry:
        problems: list[str] = []
        for section in ("grids", "workers", "buildings", "meters", "elevators"):
            counts = Counter(item.id for item in getattr(self, section))
            problems += [f"{section}: id {i!r} appears {n} times" for i, n in counts.items() if n > 1]
        grids = {g.id for g in self.grids}
        workers = {w.id for w in self.workers}
        buildings = {b.id for b in self.buildings}
        for g in self.grids:
            problems += [f"grid {g.id!r}: unknown worker {w!r}" for w in g.workers if w not in workers]
            if g.leader is not None and g.leader not in workers:
                problems.append(f"grid {g.id!r}: unknown leader {g.leader!r}")
        for b in self.buildings:
            if b.grid is not None and b.grid not in grids:
                problems.append(f"building {b.id!r}: unknown grid {b.grid!r}")
        for item in [*self.meters, *self.elevators]:
            if item.building is not None and item.building not in buildings:
                problems.append(f"{item.id!r}: unknown building {item.building!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # Lookups used on the hot path are built once per registry object.
    def model_post_init(self, _context: object) -> None:
        object.__setattr__(self, "_meters", {m.id: m for m in self.meters})
        object.__setattr__(self, "_buildings", {b.id: b for b in self.buildings})
        object.__setattr__(self, "_elevators", {e.id: e for e in self.elevators})

    def meter(self, meter_id: str) -> Meter | None:
        return self._meters.get(meter_id)  # type: ignore[attr-defined]

    def elevator(self, elevator_id: str) -> Elevator | None:
        return self._elevators.get(elevator_id)  # type: ignore[attr-defined]

    def place(self, building_id: str | None) -> tuple[str | None, str | None]:
        """(building, grid) of a building id; (None, None) when unknown."""
        building = self._buildings.get(building_id) if building_id else None  # type: ignore[attr-defined]
        return (building.id, building.grid) if building else (None, None)

    def place_of_meter(self, meter_id: str) -> tuple[str | None, str | None]:
        meter = self.meter(meter_id)
        return self.place(meter.building) if meter else (None, None)
