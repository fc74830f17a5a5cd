"""Which part of the fleet an edge worker owns, and the exact topics it subscribes to for it.

`partition: {buildings: [b1, b2]}` owns the meters and elevators of those buildings;
`partition: {index: 0, count: 3}` owns the subjects whose stable hash (CRC-32 of the id, the same
in every process and on every machine) falls on index 0 of 3. Every subject is owned by exactly
one partition, so a meter's state (run lengths, register, silence deadline) never splits. A
partitioned worker subscribes to its own subjects' topics one by one, not to the wildcards, and
watches only its own elevators' cameras; a subject missing from the registry belongs to no
partition (only an unpartitioned worker, on the wildcards, takes it).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import Field, model_validator

from ingest.config import Section
from ingest.registry import Registry
from ingest.topics import Topics


def stable_hash(subject: str) -> int:
    return zlib.crc32(subject.encode("utf-8"))


class PartitionConfig(Section):
    buildings: list[str] | None = Field(None, description="own the meters and elevators of these buildings")
    index: int | None = Field(None, ge=0, description="own the subjects whose stable hash mod count is this")
    count: int | None = Field(None, ge=1, le=10_000, description="how many hash partitions the fleet has")

    @model_validator(mode="after")
    def _one_way(self) -> PartitionConfig:
        by_hash = self.index is not None or self.count is not None
        if self.buildings is not None and by_hash:
            raise ValueError("a partition is either {buildings: [...]} or {index, count}, not both")
        if self.buildings is None and not by_hash:
            raise ValueError("a partition needs buildings: [...] or index and count")
        if by_hash:
            if self.index is None or self.count is None:
                raise ValueError("a hash partition needs both index and count")
            if self.index >= self.count:
                raise ValueError(f"index {self.index} is not below count {self.count}")
        elif not self.buildings:
            raise ValueError("buildings: give at least one building id")
        return self

    def owns(self, subject: str, building: str | None) -> bool:
        if self.buildings is not None:
            return building in self.buildings
        return stable_hash(subject) % self.count == self.index  # type: ignore[operator]

    def describe(self) -> str:
        if self.buildings is not None:
            return "buildings " + ", ".join(self.buildings)
        return f"hash partition {self.index} of {self.count}"


@dataclass(frozen=True, slots=True)
class Share:
    """What one partition owns of a registry."""

    meters: tuple[str, ...]
    elevators: tuple[str, ...]

    def topics(self, topics: Topics, *, elevators: bool = True) -> list[str]:
        """The exact subscriptions: each meter's reading and away topics, each camera's frame and status."""
        out = [t for m in self.meters for t in (topics.water_reading(m), topics.water_away(m))]
        if elevators:
            out += [t for e in self.elevators for t in (topics.elevator_frame(e), topics.elevator_status(e))]
        return out


def share_of(partition: PartitionConfig, registry: Registry) -> Share:
    return Share(
        tuple(m.id for m in registry.meters if partition.owns(m.id, m.building)),
        tuple(e.id for e in registry.elevators if partition.owns(e.id, e.building)),
    )


def restrict(registry: Registry, share: Share) -> Registry:
    """The registry as the partition's worker sees it: every grid, worker and building (for routing and
    alerts), only its own meters and elevators (for rules, camera liveness and sources)."""
    meters, elevators = set(share.meters), set(share.elevators)
    return Registry.model_validate(registry.model_dump() | {
        "meters": [m.model_dump() for m in registry.meters if m.id in meters],
        "elevators": [e.model_dump() for e in registry.elevators if e.id in elevators],
    })


def unowned(partitions: Iterable[PartitionConfig], registry: Registry) -> Share:
    """The subjects of the registry no partition of the list owns (a gap in a district's set-up)."""
    parts = list(partitions)
    return Share(
        tuple(m.id for m in registry.meters if not any(p.owns(m.id, m.building) for p in parts)),
        tuple(e.id for e in registry.elevators if not any(p.owns(e.id, e.building) for p in parts)),
    )
