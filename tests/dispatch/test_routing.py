"""Routing: building → grid → the worker on duty (duty rosters, load, the leader on call)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dispatch.routing import grid_of, on_duty, route, shift_covers
from ingest.registry import Registry, Shift
from tests.dispatch.loop_helpers import make_alert

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    # 2026-11-16 is a Monday.
    return datetime(2026, 11, 16 + day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("shift", "when", "covers"),
    [
        (Shift(workers=["a"], start="08:00", end="20:00"), at(0, 8), True),
        (Shift(workers=["a"], start="08:00", end="20:00"), at(0, 19, 59), True),
        (Shift(workers=["a"], start="08:00", end="20:00"), at(0, 20), False),
        (Shift(workers=["a"], start="08:00", end="20:00"), at(0, 7, 59), False),
        (Shift(workers=["a"], days=["mon"], start="08:00", end="20:00"), at(1, 9), False),  # Tuesday
        # Overnight: belongs to the day it starts on.
        (Shift(workers=["a"], days=["mon"], start="20:00", end="08:00"), at(0, 23), True),
        (Shift(workers=["a"], days=["mon"], start="20:00", end="08:00"), at(1, 7), True),  # Tuesday early
        (Shift(workers=["a"], days=["mon"], start="20:00", end="08:00"), at(0, 7), False),  # Monday early: Sunday's
        (Shift(workers=["a"], days=["sun"], start="20:00", end="08:00"), at(0, 7), True),
        (Shift(workers=["a"]), at(3, 3), True),  # around the clock by default
    ],
)
def test_shift_covers(shift: Shift, when: datetime, covers: bool) -> None:
    assert shift_covers(shift, when) is covers


REGISTRY = Registry.model_validate({
    "grids": [
        {"id": "g1", "workers": ["day", "night", "spare"], "leader": "boss",
         "duty": [{"workers": ["day", "spare"], "start": "08:00", "end": "20:00"},
                  {"workers": ["night"], "start": "20:00", "end": "08:00"}]},
        {"id": "g2", "workers": ["w2"]},
        {"id": "g3", "workers": ["only-weekdays"], "leader": "boss3",
         "duty": [{"workers": ["only-weekdays"], "days": ["mon", "tue", "wed", "thu", "fri"]}]},
        {"id": "g4", "workers": []},
    ],
    "workers": [{"id": w} for w in ("day", "night", "spare", "boss", "w2", "only-weekdays", "boss3")],
    "buildings": [{"id": "b1", "grid": "g1"}, {"id": "b2", "grid": "g2"}, {"id": "b3", "grid": "g3"},
                  {"id": "b4", "grid": "g4"}, {"id": "b-nogrid"}],
})


def test_on_duty_follows_the_roster() -> None:
    g1 = REGISTRY.grid("g1")
    assert on_duty(g1, at(0, 10)) == ["day", "spare"]
    assert on_duty(g1, at(0, 22)) == ["night"]
    assert on_duty(REGISTRY.grid("g2"), at(0, 3)) == ["w2"]  # no roster: every worker, always


@pytest.mark.parametrize(
    ("building", "grid", "when", "load", "queue", "assignee"),
    [
        ("b1", "g1", at(0, 10), {}, "g1", "day"),
        ("b1", "g1", at(0, 10), {"day": 2, "spare": 1}, "g1", "spare"),  # the least loaded on duty
        ("b1", "g1", at(0, 10), {"day": 1, "spare": 1}, "g1", "day"),  # ties: roster order
        ("b1", "g1", at(0, 22), {"night": 9}, "g1", "night"),  # alone on duty, however loaded
        ("b3", "g3", at(5, 10), {}, "g3", "boss3"),  # Saturday: nobody on duty, the leader is on call
        ("b4", "g4", at(0, 10), {}, "g4", None),  # nobody at all: waits in the grid's queue
        ("b-nogrid", None, at(0, 10), {}, "unassigned", None),
        (None, None, at(0, 10), {}, "unassigned", None),
        (None, "g2", at(0, 10), {}, "g2", "w2"),  # unknown building: the edge's grid when dispatch knows it
        (None, "g-unknown", at(0, 10), {}, "unassigned", None),
        ("b2", "g1", at(0, 10), {}, "g2", "w2"),  # dispatch's registry places the building, not the edge
    ],
)
def test_route(building: str | None, grid: str | None, when: datetime, load: dict[str, int], queue: str,
               assignee: str | None) -> None:
    alert = make_alert(building=building, grid=grid)
    chosen = route(alert, REGISTRY, when, load)
    assert (chosen.queue, chosen.assignee) == (queue, assignee)
    assert chosen.why


def test_grid_of_prefers_the_registry() -> None:
    assert grid_of(make_alert(building="b2", grid="g1"), REGISTRY) == "g2"


def test_registry_rejects_a_roster_naming_a_stranger() -> None:
    with pytest.raises(ValueError, match="duty names 'x'"):
        Registry.model_validate({"grids": [{"id": "g", "workers": ["a"], "duty": [{"workers": ["x"]}]}],
                                 "workers": [{"id": "a"}, {"id": "x"}]})
