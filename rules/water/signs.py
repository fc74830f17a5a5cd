"""Signs of life: which intervals hold a use event (a flush, a wash, a shower), per meter.

An event is a rise of the register above the household's base flow: the interval's volume
less what the base flow alone would have run in it, at least `no_usage_event_l` litres and at
least the register's resolution (a 10-L pulse meter cannot show a 2-L wash). So a leak's or a
running toilet's constant flow is no sign of life once the base flow has learnt it: a person
who falls while the toilet runs is still found.

- base flow: the lowest rate of the intervals of the last BASE_WINDOW_S (at least three
  intervals over an hour or more), the meter's floor; a constant leak sets it within that window.
- resolution: the coarsest of 10, 1, 0.1 and 0.01 L that every register value seen is a
  multiple of (a 10-L pulse meter shows only multiples of 10); taken in before the interval
  is judged, so the reading that first shows a finer value counts with it.
- a known intermittent leak (a cistern refilling, a drip: rules.water.night) makes small
  steps of its own; while one is suspected (alerted), an event must also be LEAK_STEP_FACTOR
  times the leak's typical step, up to LEAK_STEP_MAX_L.
A long interval (a gap) that holds an event says only that use happened somewhere in it:
the event is placed at its end, the latest moment use can be named (see usage.py).
"""

from __future__ import annotations

from rules.water.intervals import Kind, Limits
from rules.water.state import MeterState

BASE_WINDOW_S = 2 * 3600.0
BASE_MIN_INTERVALS = 3
RESOLUTIONS_L = (10.0, 1.0, 0.1)
MIN_RESOLUTION_L = 0.01
LEAK_STEP_FACTOR = 1.5
LEAK_STEP_MAX_L = 3.0  # however large the leak's steps, a low flush (3-4 L) is still a person


def base_flow_lps(st: MeterState) -> float:
    """The meter's base flow in litres per second (0 before any interval was seen)."""
    bw = st.bw
    rates = bw[1::2]
    # Trusted once the window holds a few intervals over an hour or more: three early readings
    # of a busy hour are no base flow to carry across a gap.
    if len(rates) < BASE_MIN_INTERVALS or bw[-2] - bw[0] < BASE_WINDOW_S / 2:
        return 0.0
    return min(rates)


def event_litres(st: MeterState, lim: Limits) -> float:
    """The least rise above the base flow that counts as use at this meter."""
    need = max(lim.t.no_usage_event_l, st.res or 0.0)
    if st.night_on and st.night_step > 0:
        need = max(need, min(LEAK_STEP_FACTOR * st.night_step, LEAK_STEP_MAX_L))
    return need


def above_base(st: MeterState, dt: float, dv: float) -> float:
    """The litres of an interval above what the base flow alone would have run in it."""
    return dv - base_flow_lps(st) * dt


def is_event(st: MeterState, dt: float, dv: float, kind: Kind, lim: Limits) -> bool:
    """True when this interval holds use above the base flow (judged before it is learnt)."""
    if kind != Kind.FLOW:
        return False
    return above_base(st, dt, dv) >= event_litres(st, lim) - 1e-9


def granularity(total_l: float) -> float:
    """The coarsest register step that this value is a multiple of."""
    for step in RESOLUTIONS_L:
        if abs(total_l / step - round(total_l / step)) < 1e-6:
            return step
    return MIN_RESOLUTION_L


def learn_resolution(st: MeterState, total_l: float) -> None:
    step = granularity(total_l)
    st.res = step if st.res is None else min(st.res, step)


def learn(st: MeterState, now: float, dt: float, dv: float, kind: Kind, interval_s: float) -> None:
    """Take the interval into the base flow window."""
    if kind >= Kind.DOWN:
        st.bw = []
        return
    bw = st.bw
    bw += (now, max(dv, 0.0) / dt)
    window = max(BASE_WINDOW_S, BASE_MIN_INTERVALS * interval_s)
    while len(bw) > 2 * BASE_MIN_INTERVALS and bw[0] < now - window:
        del bw[0:2]
