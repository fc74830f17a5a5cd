"""Injected conditions and their ground truth, as the published rules would see them.

Each `place_*` changes one meter's plan (its uses, silences, resets, away notices) and returns
the TruthEvent, or None when the condition does not fit in the window. Expectations allow for
what a meter reporting every `interval` can show: a rule sees a change only at the next report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from ingest.wire.timestamps import to_rfc3339
from simulators.water.flow import Uses
from simulators.water.households import HOUR_S, Household, local_hour, local_midnight
from simulators.water.model import SimMeter, TruthEvent

MIN_S = 60.0
NO_USAGE_H = 12.0  # rules.water.thresholds defaults, the published rules
CONTINUOUS_FLOW_H = 24.0
TAP_OPEN_MIN = 45.0
OFFLINE_INTERVALS = 3.0
TOILET_S = 40.0


@dataclass
class MeterPlan:
    """One meter while the scenario is built; times are epoch seconds."""

    meter: SimMeter
    household: Household
    uses: Uses
    report_times: np.ndarray
    initial_l: float
    scenario_end: float  # the last event time of the whole scenario
    silent: list[tuple[float, float, bool]] = field(default_factory=list)  # (from, until, backlog)
    resets: list[tuple[float, float]] = field(default_factory=list)  # (at, register after)
    away: list[tuple[float, float, float]] = field(default_factory=list)  # (published, from, until)

    @property
    def interval_s(self) -> float:
        return self.meter.interval_min * MIN_S

    def next_report(self, moment: float) -> float:
        later = self.report_times[self.report_times >= moment]
        return float(later[0]) if len(later) else self.scenario_end

    def add(self, start: float, duration: float, lpm: float) -> None:
        self.uses = self.uses.plus(Uses.of([(start, duration, lpm)]))


def _dt(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(round(epoch_s, 3), tz=UTC)


def _pick(rng: np.random.Generator, lo: float, hi: float, hours: tuple[float, float] = (0.0, 24.0)) -> float | None:
    """A moment in [lo, hi] whose local hour is in `hours`; None when there is none."""
    if hi <= lo:
        return None
    for _ in range(400):
        moment = float(rng.uniform(lo, hi))
        if hours[0] <= local_hour(moment) < hours[1]:
            return moment
    return None


def _after_a_use(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float,
                 hours: tuple[float, float]) -> float | None:
    """A moment shortly after one of the household's uses, in daytime: a fall or a departure."""
    ends = plan.uses.end
    hour = np.array([local_hour(e) for e in ends]) if len(ends) else np.zeros(0)
    ok = np.flatnonzero((ends >= lo) & (ends <= hi) & (hour >= hours[0]) & (hour < hours[1]))
    if not len(ok):
        return None
    return float(ends[int(rng.choice(ok))]) + float(rng.uniform(5, 45)) * MIN_S


def place_fall(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """The resident falls: no use for 12-40 h until found. The rule sees quiet from the last use."""
    fall_at = _after_a_use(plan, rng, lo + 2 * HOUR_S, hi - 14 * HOUR_S, (8.0, 20.0))
    if fall_at is None:
        return None
    found_at = fall_at + float(rng.uniform(12, 40)) * HOUR_S
    plan.uses = plan.uses.without(fall_at, found_at)
    if found_at < plan.scenario_end:
        # Whoever finds the resident runs a tap; then the routine goes on.
        plan.add(found_at + float(rng.uniform(10, 40)) * MIN_S, 60.0, 3.0)
    last_use = plan.uses.last_end_before(fall_at) or lo
    resumed = plan.uses.first_start_at_or_after(fall_at)
    end = min(resumed, plan.scenario_end) if resumed is not None else plan.scenario_end
    quiet_h = (end - last_use) / HOUR_S
    # Last use seen at the next report; the resumption at most one interval late.
    visible = quiet_h >= NO_USAGE_H + 2 * plan.interval_s / HOUR_S
    return TruthEvent(
        "fall", plan.meter.id, _dt(last_use), _dt(end),
        ("water.no_usage",) if visible else (),
        () if visible else ("water.no_usage",),
        {"fall_at": to_rfc3339(_dt(fall_at)), "found_at": to_rfc3339(_dt(found_at)),
         "last_use_at": to_rfc3339(_dt(last_use)), "quiet_h": round(quiet_h, 2),
         "resumed": resumed is not None and resumed < plan.scenario_end},
    )


def place_leak(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """A running toilet or a dripping pipe: 2-20 L/h without a break for 26 h or more."""
    start = _pick(rng, lo + HOUR_S, hi - 27 * HOUR_S)
    if start is None:
        return None
    end = min(start + float(rng.uniform(26, 48)) * HOUR_S, plan.scenario_end)
    litres_per_h = round(float(rng.uniform(2, 20)), 2)
    plan.add(start, end - start, litres_per_h / 60.0)
    # A 10-L pulse meter shows a slower leak only every few hours: no rule can see "every hour".
    visible = litres_per_h >= plan.meter.coarse_l
    return TruthEvent("leak", plan.meter.id, _dt(start), _dt(end), ("water.continuous_flow",) if visible else (),
                      () if visible else ("water.continuous_flow",),
                      {"l_per_h": litres_per_h, "hours": round((end - start) / HOUR_S, 2)})


def place_tap_open(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """A tap left running 30-120 min at 6-10 L/min: due only when the meter can show 45 min of it."""
    start = _pick(rng, lo + HOUR_S, hi - 3 * HOUR_S, (8.0, 21.0))
    if start is None:
        return None
    minutes = float(rng.uniform(30, 120))
    lpm = round(float(rng.uniform(6, 10)), 2)
    plan.add(start, minutes * MIN_S, lpm)
    visible = minutes >= TAP_OPEN_MIN + plan.meter.interval_min
    return TruthEvent(
        "tap_open", plan.meter.id, _dt(start), _dt(start + minutes * MIN_S),
        ("water.tap_open",) if visible else (), ("water.tap_open", "water.spike"),
        {"flow_lpm": lpm, "minutes": round(minutes, 1), "litres": round(lpm * minutes, 1)},
    )


def place_silent(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """The meter stops reporting for 4-30 h (past the offline threshold at 15 or 60 min), then resumes."""
    hours = float(rng.uniform(4, 30))
    start = _pick(rng, lo + HOUR_S, hi - hours * HOUR_S - 2 * plan.interval_s)
    if start is None:
        return None
    until = start + hours * HOUR_S
    backlog = bool(rng.random() < 0.5)
    plan.silent.append((start, until, backlog))
    last_seen = plan.report_times[plan.report_times < start]
    resumed = plan.next_report(until)
    return TruthEvent(
        "silent", plan.meter.id, _dt(start), _dt(resumed), ("water.meter_offline",),
        ("water.no_usage",),
        {"hours": round(hours, 2), "backlog": backlog,
         "last_seen": to_rfc3339(_dt(float(last_seen[-1]))) if len(last_seen) else None},
    )


def place_register_reset(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """The register drops to about zero (a swapped or tampered meter)."""
    at = _pick(rng, lo + 2 * HOUR_S, hi - 2 * HOUR_S)
    if at is None:
        return None
    after = round(float(rng.uniform(0, 5)), 1)
    plan.resets.append((at, after))
    return TruthEvent("register_reset", plan.meter.id, _dt(at), _dt(plan.next_report(at)),
                      ("water.meter_tamper",), (), {"register_after_l": after})


def place_away(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """The resident is away 14-40 h and says so first: a no-usage alert now is a false alarm."""
    leave = _after_a_use(plan, rng, lo + 2 * HOUR_S, hi - 15 * HOUR_S, (8.0, 18.0))
    if leave is None:
        return None
    back = min(leave + float(rng.uniform(14, 40)) * HOUR_S, hi - HOUR_S)
    plan.uses = plan.uses.without(leave, back)
    plan.add(back + float(rng.uniform(5, 20)) * MIN_S, TOILET_S, 9.0)  # home again: the toilet first
    until = back + HOUR_S
    published = max(lo, leave - float(rng.uniform(0.5, 6)) * HOUR_S)
    plan.away.append((published, leave, until))
    return TruthEvent("away", plan.meter.id, _dt(leave), _dt(back), (), (),
                      {"notice_from": to_rfc3339(_dt(leave)), "notice_until": to_rfc3339(_dt(until)),
                       "notice_published": to_rfc3339(_dt(published)), "hours": round((back - leave) / HOUR_S, 2)})


def place_spike(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """1200-1800 L in a few hours at 10-25 L/min, late morning: over 1000 L in any one day."""
    days = [d for d in np.arange(local_midnight(lo), hi, 86400.0) if d + 9 * HOUR_S >= lo and d + 16 * HOUR_S <= hi]
    if not days:
        return None
    day = float(days[int(rng.integers(len(days)))])
    start = day + float(rng.uniform(9, 12)) * HOUR_S
    litres = float(rng.uniform(1200, 1800))
    lpm = round(float(rng.uniform(10, 25)), 2)
    minutes = litres / lpm
    plan.add(start, minutes * MIN_S, lpm)
    return TruthEvent("spike", plan.meter.id, _dt(start), _dt(start + minutes * MIN_S), ("water.spike",),
                      ("water.tap_open",), {"litres": round(litres, 1), "flow_lpm": lpm, "minutes": round(minutes, 1)})


NIGHT_FLOW_NIGHTS = 2  # rules.water.thresholds default: nights of flow before a night-flow leak warning


def place_night_drip(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """A drip that runs while the mains pressure is high, 23:00-06:00, and stops by day: 1.5-6 L/h
    for 3-6 nights. The published 24-h rule sees a quiet hour every day; the night does not."""
    if plan.meter.coarse_l:
        return None  # a 10-L pulse meter cannot show a few litres an hour
    first = local_midnight(lo) + 23 * HOUR_S
    while first < lo + HOUR_S:
        first += 86400.0
    nights = int(rng.integers(3, 7))
    starts = [first + k * 86400.0 for k in range(nights)]
    if starts[-1] + 7 * HOUR_S > hi:
        return None
    litres_per_h = round(float(rng.uniform(1.5, 6.0)), 2)
    for start in starts:
        plan.add(start, 7 * HOUR_S, litres_per_h / 60.0)
    return TruthEvent("night_drip", plan.meter.id, _dt(starts[0]), _dt(starts[-1] + 7 * HOUR_S),
                      ("water.continuous_flow",) if nights >= NIGHT_FLOW_NIGHTS + 1 else (),
                      ("water.continuous_flow",), {"l_per_h": litres_per_h, "nights": nights})


def place_cistern_leak(plan: MeterPlan, rng: np.random.Generator, lo: float, hi: float) -> TruthEvent | None:
    """A cistern whose flapper leaks: it refills 1-2.5 L every 20-55 min, day and night, for 2-5 days."""
    start = _pick(rng, lo + HOUR_S, hi - 50 * HOUR_S)
    if start is None:
        return None
    end = min(start + float(rng.uniform(48, 120)) * HOUR_S, plan.scenario_end)
    period = float(rng.uniform(20, 55)) * MIN_S
    litres = round(float(rng.uniform(1.0, 2.5)), 2)
    refills = np.arange(start, end, period)
    plan.uses = plan.uses.plus(Uses.of([(float(t), litres / 9.0 * 60.0, 9.0) for t in refills]))
    # A 10-L pulse meter shows under 5 L/h as a pulse now and then, not every night: unknowable.
    visible = litres * 3600.0 / period >= plan.meter.coarse_l / 2
    expect = ("water.continuous_flow",) if visible else ()
    return TruthEvent("cistern_leak", plan.meter.id, _dt(start), _dt(end), expect, () if visible else
                      ("water.continuous_flow",),
                      {"refill_l": litres, "every_min": round(period / MIN_S, 1),
                       "hours": round((end - start) / HOUR_S, 1)})


PLACERS: dict[str, Callable[[MeterPlan, np.random.Generator, float, float], TruthEvent | None]] = {
    "fall": place_fall,
    "leak": place_leak,
    "tap_open": place_tap_open,
    "silent": place_silent,
    "register_reset": place_register_reset,
    "away": place_away,
    "spike": place_spike,
    "night_drip": place_night_drip,
    "cistern_leak": place_cistern_leak,
}
ELDERLY_ONLY = {"fall"}
PREFER_ELDERLY = {"away"}  # no-usage watches people living alone: that is where an absence matters
