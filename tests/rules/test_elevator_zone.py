"""The car's floor zone, in normalised coordinates, judged at a box's bottom-centre."""

from __future__ import annotations

import pytest

from rules.elevator.zone import Zone, point_in_polygon

# The car floor in the lower part of a 1280x720 frame; the door and lobby are above it.
CAR = Zone.of([(0.2, 0.5), (0.8, 0.5), (0.9, 1.0), (0.1, 1.0)])
HW = (720, 1280)


@pytest.mark.parametrize(
    ("point", "inside"),
    [((0.5, 0.75), True), ((0.5, 0.4), False), ((0.12, 0.95), True), ((0.12, 0.55), False), ((0.95, 0.9), False)],
)
def test_point_in_trapezoid(point: tuple[float, float], inside: bool) -> None:
    assert CAR.contains_point(*point) is inside
    assert point_in_polygon(*point, CAR.polygon) is inside  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("box", "inside"),
    [
        ((500, 300, 800, 700), True),  # a bike standing on the car floor, its top in the door area
        ((560, 150, 700, 330), False),  # a bike in the lobby, seen through the open door
        ((500, 40, 800, 340), False),  # a tall box whose foot is still outside the car
    ],
)
def test_box_judged_by_its_foot_point(box: tuple[float, float, float, float], inside: bool) -> None:
    assert CAR.contains_box(box, HW) is inside


def test_no_zone_is_the_whole_frame() -> None:
    assert Zone.of(None).contains_box((0, 0, 10, 10), HW)
    assert Zone.of([]).contains_box((1200, 600, 1280, 720), HW)


@pytest.mark.parametrize("points", [[(0, 0), (1, 1)], [(0, 0), (640, 0), (640, 360)], [(-0.1, 0), (1, 0), (1, 1)]])
def test_bad_zones_rejected(points: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError):
        Zone.of(points)
