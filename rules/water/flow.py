"""water.continuous_flow (the published 24/48-h rule) and water.tap_open: runs of intervals.

The same continuous_flow episode may also be held open by the minimum night flow (night.py);
`st.leak_by` says which of the two hold it, and a quiet hour clears it only when the night does not.

Continuous flow (a leak, a running toilet): a run of intervals with no quiet span of
quiet_hour_min. A zero-volume stretch (consecutive intervals with an unchanged register, a
long silent gap included) of quiet_hour_min ends the run and clears the episode. An interval
with volume counts as flowing when it is no longer than quiet_hour_min x flow_interval_tolerance
(75 min by default, the published hourly method); a longer one may hide a quiet hour, so the run
restarts after it (as after a register reset or jump) and neither raises nor escalates across
it. An open episode is not cleared by such an unknown interval: no quiet hour was seen.
With 15-min data a quiet hour is four zero intervals; with 1-h data, one.

Tap open (a tap or a burst pipe): interval averages never prove sustained flow, since a bath of
150 L run in 10 min makes a 1-h interval average 2.5 L/min. So the rule asks for a run of
consecutive intervals, each averaging at least tap_open_lpm (and, where the meter reports
flow_lpm, still flowing at least that fast at its end), covering tap_open_min and made of at
least tap_open_min_intervals intervals (3), or 2 when flow_lpm confirmed every reading of the run.
A bath or a washing machine's fills sit within one or two intervals; a tap left running does
not. With 15-min data this finds a tap open for 45 min; with 1-h data only one open for hours:
the reporting interval bounds what the data can prove. Raised critical; cleared by the first
interval under the threshold. A gap (an interval the meter's cadence does not explain) ends a
run without clearing: its average says nothing about when in the gap the water ran, so a tap
is never found in the hour after a gap.
"""

from __future__ import annotations

from ingest.wire.alert import Severity
from rules.episode import AlertChange, EpisodeBook
from rules.water.emit import clear, hours, iso, needs, raise_
from rules.water.intervals import QUIET_JITTER, Kind, Limits
from rules.water.state import MeterState

CONTINUOUS_FLOW = "water.continuous_flow"
TAP_OPEN = "water.tap_open"


def continuous_flow(
    st: MeterState, mid: str, prev_ts: float, prev_total: float, now: float, total: float, dt: float, kind: Kind,
    lim: Limits, book: EpisodeBook, out: list[AlertChange],
) -> None:
    if kind >= Kind.DOWN or (kind == Kind.FLOW and dt > lim.flow_interval_max_s):
        st.flow_since = st.zero_since = None
        return
    if kind == Kind.FLOW:
        if st.flow_since is None:
            st.flow_since, st.flow_total = prev_ts, prev_total
        st.zero_since = None
    else:
        if st.zero_since is None:
            st.zero_since = prev_ts
        quiet = now - st.zero_since
        if quiet >= lim.quiet_s * QUIET_JITTER:
            st.flow_since = None
            if "run" in st.leak_by:
                st.leak_by.remove("run")
            # The night analysis (night.py) may hold the same leak episode open: a cistern that
            # refills between quiet hours is still a leak.
            if (CONTINUOUS_FLOW, mid) in book.open and "night" not in st.leak_by:
                clear(book, out, CONTINUOUS_FLOW, mid, now, f"Flow stopped at meter {mid}: a quiet hour was seen",
                      {"cleared_by": "quiet_hour", "quiet_min": round(quiet / 60, 1)})
            return
    if st.flow_since is None:
        return
    run = now - st.flow_since
    if run < lim.flow_warning_s:
        return
    severity: Severity = "critical" if run >= lim.flow_critical_s else "warning"
    if "run" not in st.leak_by:
        st.leak_by.append("run")
    if needs(book, CONTINUOUS_FLOW, mid, severity):
        litres = total - st.flow_total
        raise_(
            book, out, CONTINUOUS_FLOW, mid, severity, st.flow_since, now,
            f"Water flowing in every hour for {hours(run):.1f} h at meter {mid} since {iso(st.flow_since)}"
            f" ({litres:.0f} L; possible leak or running toilet)",
            {"method": "every_hour", "hours": hours(run), "litres": round(litres, 1), "since": iso(st.flow_since),
             "quiet_hour_min": lim.t.quiet_hour_min},
        )


def tap_open(
    st: MeterState, mid: str, prev_ts: float, prev_total: float, prev_flow: float | None, now: float, dt: float,
    dv: float, flow: float | None, kind: Kind, lim: Limits, book: EpisodeBook, out: list[AlertChange],
    gap: bool = False,
) -> None:
    lpm = lim.t.tap_open_lpm
    if gap:
        st.tap_start = None
        return
    high = kind == Kind.FLOW and dv >= lim.tap_lps * dt and (flow is None or flow >= lpm)
    if not high:
        if st.tap_start is not None:
            st.tap_start = None
            if (TAP_OPEN, mid) in book.open:
                clear(book, out, TAP_OPEN, mid, now, f"Flow back under {lpm:g} L/min at meter {mid}",
                      {"cleared_by": "flow_dropped"})
        return
    if st.tap_start is None:
        st.tap_start, st.tap_total, st.tap_n = prev_ts, prev_total, 0
        st.tap_ok = prev_flow is not None and prev_flow >= lpm
    st.tap_n += 1
    st.tap_ok = st.tap_ok and flow is not None
    needed = lim.t.tap_open_min_intervals
    if st.tap_ok:
        needed = min(needed, 2)
    span = now - st.tap_start
    if span < lim.tap_s * QUIET_JITTER or st.tap_n < needed or (TAP_OPEN, mid) in book.open:
        return
    litres = prev_total + dv - st.tap_total
    minutes = span / 60
    avg = litres / minutes
    raise_(
        book, out, TAP_OPEN, mid, "critical", st.tap_start, now,
        f"Tap open at meter {mid}: {avg:.1f} L/min for {minutes:.0f} min ({litres:.0f} L) since {iso(st.tap_start)}",
        {"minutes": round(minutes, 1), "litres": round(litres, 1), "avg_lpm": round(avg, 2),
         "intervals": st.tap_n, "flow_confirmed": st.tap_ok, "since": iso(st.tap_start)},
    )
