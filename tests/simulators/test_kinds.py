"""The harder households and meters of `sim water --mix`: what they use, how they report, their truth."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from simulators.water.households import local_hour, local_midnight, make_household, routine
from simulators.water.scenario import ScenarioSpec, generate

START = local_midnight(1_736_000_000.0)
DAYS = 14


def daily_litres(kind: str, homes: int = 20) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(5)
    fleet = [routine(make_household(f"h{i}", "elderly_alone", rng, kind), START, START + DAYS * 86400, rng)
             for i in range(homes)]
    return np.array([u.volume_l.sum() / DAYS for u in fleet]), fleet


def test_frugal_homes_use_40_to_120_litres_a_day_in_small_uses_with_quiet_nights():
    per_day, fleet = daily_litres("frugal")
    assert 40 <= np.median(per_day) <= 120 and per_day.min() >= 30 and per_day.max() <= 130
    volumes = np.concatenate([u.volume_l for u in fleet])
    assert np.mean(volumes <= 4.0) > 0.85  # a low flush, a hand wash, a kettle
    hours = np.array([local_hour(s) for u in fleet for s in u.start])
    assert np.mean((hours >= 1) & (hours < 5)) < 0.02  # a flush in the night now and then, no more


@pytest.mark.parametrize(("kind", "quiet_from", "quiet_to"), [("late_sleeper", 3.0, 9.0), ("night_shift", 1.0, 5.0)])
def test_late_sleepers_and_night_shifts_are_quiet_when_others_are_not(kind, quiet_from, quiet_to):
    _, fleet = daily_litres(kind)
    hours = np.array([local_hour(s) for u in fleet for s in u.start])
    assert np.mean((hours >= quiet_from) & (hours < quiet_to)) < 0.03


def test_mixed_scenario_has_every_kind_pulse_meters_batches_and_the_new_leaks():
    sc = generate(ScenarioSpec(meters=60, days=10, seed=3, start=datetime(2026, 1, 5, tzinfo=UTC), faults=False,
                               mix="mixed"))
    assert set(Counter(m.household_kind for m in sc.meters)) == {"elderly", "frugal", "late_sleeper",
                                                                 "night_shift", "standard"}
    coarse = {m.id for m in sc.meters if m.coarse_l == 10.0}
    assert coarse and all(r.total_l % 10 == 0 for r in sc.clean if r.meter_id in coarse)
    batched = [m.id for m in sc.meters if m.upload_every == 4]
    assert batched and all(m.interval_min == 15.0 for m in sc.meters if m.upload_every == 4)
    assert any(m.interval_min == 60.0 for m in sc.meters)
    kinds = Counter(e.kind for e in sc.truth)
    assert kinds["night_drip"] and kinds["cistern_leak"]
    drip = next(e for e in sc.truth if e.kind == "night_drip")
    assert drip.detail["nights"] >= 4 and drip.expect == ("water.continuous_flow",)


def test_arrivals_send_a_batch_meters_readings_together_when_the_fourth_is_taken():
    sc = generate(ScenarioSpec(meters=60, days=1, seed=3, start=datetime(2026, 1, 5, tzinfo=UTC), faults=False,
                               mix="mixed", events=False))
    meter = next(m.id for m in sc.meters if m.upload_every == 4)
    order = [r for r in sc.arrivals() if r.meter_id == meter]
    assert [r.ts for r in order] == sorted(r.ts for r in order)  # a meter's own readings stay in order
    arrivals = sc.arrivals()
    first_four = [arrivals.index(r) for r in order[:4]]
    assert first_four == list(range(first_four[0], first_four[0] + 4))  # one upload: next to each other
    others = [r for r in arrivals[: first_four[0]] if r.meter_id != meter]
    assert others and max(r.ts for r in others) > order[0].ts  # it arrives after live meters moved on


def test_classic_scenario_is_unchanged_by_the_mixes():
    spec = dict(meters=12, days=2, seed=9, start=datetime(2026, 1, 5, tzinfo=UTC), faults=False)
    sc = generate(ScenarioSpec(**spec))
    assert {m.household_kind for m in sc.meters} <= {"elderly", "standard"}
    assert all(m.coarse_l == 0 and m.upload_every == 1 for m in sc.meters)
    assert not {e.kind for e in sc.truth} & {"night_drip", "cistern_leak"}
