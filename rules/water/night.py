"""water.continuous_flow from the minimum night flow (MNF), as utilities find leaks.

In the small hours (night_start_h..night_end_h, local time) a home uses water now and then at
most: the lowest flow over any hour of the night is its base. Each night's MNF is the lowest
rate over the spans of about an hour (0.95-2 h) between its readings; a night without such a
span (a gap) is unknown, and neither counts nor breaks a run of nights. A 10-L pulse meter
cannot show a few litres an hour: its night is one span, the whole window.
- warning: an MNF above night_flow_min_lph on night_flow_nights known nights in a row;
- critical: the MNF of those nights at or above night_flow_critical_lph, or rising night on
  night (the last at least RISING_FACTOR times the first);
- release: a night whose MNF is at most half of night_flow_min_lph (hysteresis).
A cistern refilling every half hour or a drip that runs while the pressure is high (at night)
never shows 24 h without a quiet hour, so the published rule misses it; the night does not.

The episode is the meter's one water.continuous_flow episode (ARCHITECTURE.md's type list is a
binding contract: a leak is a continuous_flow alert, whichever analysis found it). `leak_by`
says which analyses hold it open: the published 24/48-h run ("run", flow.py) and this one
("night"); it clears when neither does. While a night leak is suspected its typical step
(median positive interval of the night) is known to signs.py, so refills are no sign of life.
"""

from __future__ import annotations

from ingest.wire.alert import Severity
from rules.episode import AlertChange, EpisodeBook
from rules.water.emit import clear, iso, raise_, severity_open
from rules.water.flow import CONTINUOUS_FLOW
from rules.water.intervals import Kind, Limits
from rules.water.state import MeterState

HOUR_S = 3600.0
DAY_S = 86400.0
SPAN_MIN_S = 0.95 * HOUR_S
SPAN_MAX_S = 2.0 * HOUR_S
AFTER_S = 0.5 * HOUR_S  # the first reading this soon after the window still closes its last hour
NIGHTS_KEPT = 7
RISING_FACTOR = 1.5
COARSE_L = 10.0  # a register this coarse cannot show litres an hour: the night is judged as a whole


def night_of(ts: float, lim: Limits) -> tuple[float, float]:
    """(window start, window end) in epoch seconds of the night on the local day of ts."""
    off = lim.t.local_utc_offset_h * HOUR_S
    day = (ts + off) // DAY_S * DAY_S - off
    return day + lim.t.night_start_h * HOUR_S, day + lim.t.night_end_h * HOUR_S


def night_min_lph(points: list[float], span_min_s: float = SPAN_MIN_S,
                  span_max_s: float = SPAN_MAX_S) -> tuple[float, float] | None:
    """(MNF in L/h, median positive step in L) of one night's [ts, total, ...]; None when unknown."""
    ts, tot = points[0::2], points[1::2]
    rates = []
    j = 0
    for i in range(len(ts)):
        j = max(j, i + 1)
        while j < len(ts) and ts[j] - ts[i] < span_min_s:
            j += 1
        if j < len(ts) and ts[j] - ts[i] <= span_max_s:
            rates.append((tot[j] - tot[i]) / (ts[j] - ts[i]) * HOUR_S)
    if not rates:
        return None
    steps = sorted(b - a for a, b in zip(tot, tot[1:], strict=False) if b - a > 1e-6)
    return max(min(rates), 0.0), (steps[len(steps) // 2] if steps else 0.0)


def night_flow(
    st: MeterState, mid: str, now: float, total: float, kind: Kind, lim: Limits,
    book: EpisodeBook, out: list[AlertChange],
) -> None:
    if not lim.t.night_flow_enabled:
        return
    if kind >= Kind.DOWN:
        st.nr, st.nk = [], None  # this night's volume is unknown
        return
    start, end = night_of(now, lim)
    if st.nk is not None and now >= st.nk + (end - start):
        if now <= st.nk + (end - start) + AFTER_S:
            st.nr += (now, total)
        _close_night(st, mid, now, lim, book, out)
    if start <= now < end:
        if st.nk != start:
            st.nr, st.nk = [], start
        st.nr += (now, total)


def _close_night(st: MeterState, mid: str, now: float, lim: Limits, book: EpisodeBook,
                 out: list[AlertChange]) -> None:
    night, points = st.nk, st.nr
    st.nr, st.nk = [], None
    assert night is not None
    if (st.res or 0.0) >= COARSE_L:  # a pulse meter: the night's flow over the whole window
        window = (lim.t.night_end_h - lim.t.night_start_h) * HOUR_S
        found = night_min_lph(points, 0.7 * window, window + AFTER_S)
    else:
        found = night_min_lph(points)
    if found is None:
        return
    mnf, step = found
    st.night += (night, mnf, step)
    del st.night[:-3 * NIGHTS_KEPT]
    t = lim.t
    if mnf > t.night_flow_min_lph:
        st.night_step = step
    if mnf <= t.night_flow_min_lph / 2:
        _release(st, mid, now, mnf, book, out)
        return
    streak = []  # the latest nights in a row above the threshold, oldest first
    for k in range(len(st.night) - 3, -1, -3):
        if st.night[k + 1] <= t.night_flow_min_lph:
            break
        streak.insert(0, (st.night[k], st.night[k + 1]))
    if len(streak) < t.night_flow_nights:
        return
    streak = streak[-t.night_flow_nights:] if "night" not in st.leak_by else streak
    flows = [f for _, f in streak]
    large = min(flows[-t.night_flow_nights:]) >= t.night_flow_critical_lph
    rising = len(flows) >= 2 and all(b >= a for a, b in zip(flows, flows[1:], strict=False)) \
        and flows[-1] >= RISING_FACTOR * flows[0]
    severity: Severity = "critical" if (large or rising) else "warning"
    if "night" not in st.leak_by:
        st.leak_by.append("night")
    st.night_on = True
    since = streak[0][0]
    shown = ", ".join(f"{f:.1f}" for f in flows[-4:])
    why = "large" if large else "rising" if rising else "steady"
    raise_(
        book, out, CONTINUOUS_FLOW, mid, severity, since, now,
        f"Water flowing through the night at meter {mid}: at least {flows[-1]:.1f} L/h in every hour "
        f"{t.night_start_h:02.0f}:00-{t.night_end_h:02.0f}:00 on {len(flows)} nights in a row (L/h: {shown})"
        f" since {iso(since)}; possible leak (running cistern, drip)",
        {"method": "night_flow", "nights": len(flows), "night_min_lph": [round(f, 2) for f in flows],
         "trend": why, "since": iso(since), "night_flow_min_lph": t.night_flow_min_lph},
    )


def _release(st: MeterState, mid: str, now: float, mnf: float, book: EpisodeBook, out: list[AlertChange]) -> None:
    st.night_on = False
    if "night" not in st.leak_by:
        return
    st.leak_by.remove("night")
    if not st.leak_by and severity_open(book, CONTINUOUS_FLOW, mid) is not None:
        clear(book, out, CONTINUOUS_FLOW, mid, now,
              f"Night flow back to {mnf:.1f} L/h at meter {mid}: no leak seen last night",
              {"cleared_by": "dry_night", "night_min_lph": round(mnf, 2)})
