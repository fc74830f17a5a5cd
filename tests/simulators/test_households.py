"""Household routines: plausible daily volumes, quiet nights, and the exact arithmetic of a meter."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.water import data
from simulators.water.flow import Uses, read
from simulators.water.households import local_hour, local_midnight, make_household, routine

START = local_midnight(1_736_000_000.0)  # a local midnight in January 2025
DAYS = 14


def _fleet(profile: str, homes: int, seed: int = 7) -> list[Uses]:
    rng = np.random.default_rng(seed)
    return [routine(make_household(f"h{i}", profile, rng), START, START + DAYS * 86400, rng) for i in range(homes)]


@pytest.mark.parametrize(
    ("uses", "times", "litres", "lpm"),
    [
        # one use of 10 L/min for 60 s: halfway 5 L at 10 L/min, after it 10 L and no flow
        ([(100.0, 60.0, 10.0)], [0.0, 130.0, 160.0, 500.0], [0.0, 5.0, 10.0, 10.0], [0.0, 10.0, 0.0, 0.0]),
        # overlapping uses add their flows
        ([(0.0, 120.0, 6.0), (60.0, 60.0, 3.0)], [60.0, 90.0, 120.0], [6.0, 10.5, 15.0], [9.0, 9.0, 0.0]),
        # a leak of 6 L/h seen over a day
        ([(0.0, 86400.0, 0.1)], [3600.0, 86400.0], [6.0, 144.0], [0.1, 0.0]),
        # no use at all
        ([], [0.0, 1e6], [0.0, 0.0], [0.0, 0.0]),
    ],
)
def test_meter_reads_the_integral_of_the_uses(uses, times, litres, lpm) -> None:
    volume, flow = read(Uses.of(uses), np.array(times))
    assert volume == pytest.approx(litres)
    assert flow == pytest.approx(lpm)


def test_without_cuts_a_use_that_runs_into_the_span() -> None:
    uses = Uses.of([(0.0, 100.0, 6.0), (50.0, 10.0, 6.0), (200.0, 10.0, 6.0)]).without(40.0, 150.0)
    assert list(uses.start) == [0.0, 200.0]
    assert list(uses.duration) == [40.0, 10.0]


def test_shared_data_grounds_showers_and_taps() -> None:
    elderly, taps = data.showers("elderly_alone"), data.taps()
    assert elderly is not None and len(elderly) > 1000  # amphiro trials A and B
    assert taps is not None and len(taps) > 200  # CIWS faucet events of 0.5-3 L
    assert 6.0 <= elderly.flow_lpm.min() and elderly.flow_lpm.max() <= 10.0
    minutes = elderly.volume_l / elderly.flow_lpm
    assert 5.0 <= minutes.min() and minutes.max() <= 15.0


def test_elderly_alone_uses_80_to_150_litres_a_day() -> None:
    daily = np.array([u.volume_l.sum() / DAYS for u in _fleet("elderly_alone", 40)])
    assert 90 <= np.median(daily) <= 140
    assert 60 <= daily.min() and daily.max() <= 200


def test_standard_homes_use_about_230_litres_a_day() -> None:
    daily = np.array([u.volume_l.sum() / DAYS for u in _fleet("standard", 60)])
    assert 180 <= np.median(daily) <= 300
    assert 100 <= daily.min() and daily.max() <= 600


def test_elderly_nights_are_quiet_but_every_12_hours_hold_over_10_litres() -> None:
    """A clean home must never look like the published no-use rule (<10 L in 12 h)."""
    times = np.arange(START, START + DAYS * 86400, 900.0)
    for uses in _fleet("elderly_alone", 40):
        night = np.array([0 <= local_hour(s) < 6 for s in uses.start])
        assert night.sum() <= DAYS  # at most about one night flush a night
        volume, _ = read(uses, times)
        trailing_12h = volume[48:] - volume[:-48]
        assert trailing_12h.min() >= 10.0


def test_routines_are_deterministic_from_the_seed() -> None:
    a, b = _fleet("standard", 3, seed=5), _fleet("standard", 3, seed=5)
    c = _fleet("standard", 3, seed=6)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.start, y.start) and np.array_equal(x.flow_lpm, y.flow_lpm)
    assert not np.array_equal(a[0].start, c[0].start)
