"""The car's floor zone: where a bike that stands is inside the car, not in the lobby seen through the door.

The zone is the registry's `Elevator.zone`, a polygon in **normalised** image coordinates
(x and y in 0-1 of the frame's width and height), so one zone fits any resolution the
camera streams at. A box is in the zone when its bottom-centre (where the bike touches the
floor) is inside. No zone means the whole frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rules.elevator.tracker import Box

Point = tuple[float, float]


def point_in_polygon(x: float, y: float, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; a point exactly on an edge may fall either side."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


@dataclass(frozen=True, slots=True)
class Zone:
    polygon: tuple[Point, ...] | None = None  # None: the whole frame

    def __post_init__(self) -> None:
        if self.polygon is None:
            return
        if len(self.polygon) < 3:
            raise ValueError("a zone needs at least 3 points")
        if any(not (0 <= v <= 1) for point in self.polygon for v in point):
            raise ValueError("zone points are normalised: x and y in 0-1 of the frame")

    @classmethod
    def of(cls, points: Sequence[Sequence[float]] | None) -> Zone:
        """From the registry's list of (x, y); None or empty gives the whole frame."""
        if not points:
            return cls(None)
        return cls(tuple((float(x), float(y)) for x, y in points))

    def contains_point(self, x: float, y: float) -> bool:
        """A normalised point."""
        if self.polygon is None:
            return True  # a box a detector clipped at the frame's edge still counts
        return point_in_polygon(x, y, self.polygon)

    def contains_box(self, box: Box, frame_hw: tuple[int, int]) -> bool:
        """A pixel box of a frame of (height, width): is its foot point in the zone?"""
        h, w = frame_hw
        x1, _, x2, y2 = box
        return self.contains_point((x1 + x2) / 2 / w, y2 / h)
