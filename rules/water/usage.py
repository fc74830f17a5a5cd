"""water.no_usage and water.spike: windows over the cumulative register.

No usage judges signs of life by default (no_usage_signs "events"): the quiet span runs from
the last use event (signs.py: a rise above the learnt base flow, at least the register's
resolution), so a person who flushed at 22:00 is alive however few litres the day held, and a
leak's steady flow is no sign of life. The hours, the habit, away notices and the critical
hours are as below. An open episode clears (hysteresis) on an event of no_usage_clear_event_l
(2 L) above the base flow, or on smaller events adding up to it within no_usage_clear_window_h:
a lone 1-L register tick every few days in an empty home is no person, and it neither clears the
episode nor restarts its count to critical (DAIAD: such ticks split one absence into many
episodes). A long gap whose volume holds an event
places it at the gap's end (the latest moment use can be named); a gap with the register
unchanged is a known quiet span.

No usage by litres (no_usage_signs "litres", for meters that only report coarse totals).
The quiet span at a reading is [first point of `nu`, now]: the earliest reading after
which less than no_usage_max_l litres were used. A reading is the earliest point we can name: the
volume of the interval before it may have been used just before it (conservative: we never call
a span quiet when use could have been in it). The register makes a long silent gap with an
unchanged total a known quiet span; a register reset or jump restarts the span (use unknown).
Thinning the history to points max_l/20 apart can only shorten the span (by at most that many
litres' worth), never lengthen it.
- raise warning at no_usage_warning_h, update to critical at no_usage_critical_h;
  started_at = the start of the quiet span (or the end of the last absence, if later).
- away: no judgement while a notice covers the reading; an absence that ended restarts the span.
- habit: a household routinely quiet for long (a night and a working day) is learnt: the longest
  quiet span that ended in use, below the critical hours, fading over a month. The warning then
  waits for HABIT_MARGIN times that span, never beyond no_usage_habit_max_h; critical is fixed.
  DAIAD: this halves the false 12-h warnings of busy homes; an elderly person at home, whose
  nights are shorter than 12 h, keeps the published 12 h.
- clear (hysteresis): one interval with at least no_usage_clear_l (a flush, a wash), or small
  uses adding up so that the quiet span falls under the warning hours. A drip of a fraction of
  a litre an hour keeps the episode open: it is not a person. A reset or jump clears nothing
  (no evidence of use). After a clear the span restarts at the clearing reading.

Spike: the use in a rolling 24 h (better than a calendar day for a burst around midnight).
A lower bound (from the oldest kept point inside the day) raises it; an upper bound (from the
newest point before the day) clears it, so a long gap never raises it and never clears it early.
Volume that arrives after a gap (an interval the meter's cadence does not explain) is spread
over the gap, "at most this much, somewhere in there": it never raises a spike (the lower bound
counts only use measured after the last gap, `sp_gap`); it still counts in the upper bound, so
it never clears one early either.
started_at is the latest kept point since which more than the limit was used: the burst's start.
"""

from __future__ import annotations

import math

from ingest.wire.alert import Severity
from rules.episode import AlertChange, EpisodeBook
from rules.water.emit import clear, hours, iso, raise_, severity_open
from rules.water.intervals import Kind, Limits
from rules.water.signs import base_flow_lps, event_litres
from rules.water.state import MeterState
from rules.water.thresholds import WaterThresholds

NO_USAGE = "water.no_usage"
SPIKE = "water.spike"
DAY_S = 86400.0
SPIKE_STEP_S = 3600.0  # one kept point an hour: the day's window is 23-24 h, never more
HABIT_MARGIN = 1.15
HABIT_FADE_S = 30 * DAY_S


def learn_quiet(st: MeterState, span: float, now: float, lim: Limits) -> None:
    """Remember a quiet span that ended in use, as a fading maximum (see the module docstring)."""
    if lim.t.no_usage_habit_max_h <= 0 or span >= lim.no_usage_critical_s:
        return
    faded = st.usual_quiet * math.exp(-(now - st.quiet_seen) / HABIT_FADE_S) if st.quiet_seen else 0.0
    st.usual_quiet, st.quiet_seen = max(faded, span), now


def warning_after(st: MeterState, lim: Limits) -> float:
    """Seconds of quiet before a warning: the published hours, or the household's habit if longer."""
    habit = min(HABIT_MARGIN * st.usual_quiet, lim.t.no_usage_habit_max_h * 3600, lim.no_usage_critical_s)
    return max(lim.no_usage_warning_s, habit)


def fold_away(st: MeterState, now: float) -> bool:
    """Forget absences that ended (their end becomes the floor of the quiet span); True when away now."""
    away_now = False
    if st.away:
        keep = []
        for window in st.away:
            if window[1] <= now:
                st.away_floor = max(st.away_floor, window[1])
            else:
                keep.append(window)
                away_now = away_now or window[0] <= now
        st.away = keep
    return away_now


def quiet_history(st: MeterState, total: float, kind: Kind, lim: Limits, now: float) -> bool:
    """Move the no-usage history to this reading; True when use pushed its start forward."""
    nu = st.nu
    if kind >= Kind.DOWN:
        st.nu = [now, total]
        return False
    if total - nu[-1] >= lim.no_usage_step_l:
        nu += (now, total)
    max_l = lim.t.no_usage_max_l
    popped = False
    while len(nu) > 2 and total - nu[1] >= max_l:
        del nu[0:2]
        popped = True
    return popped


def no_usage(
    st: MeterState, mid: str, now: float, total: float, dv: float, kind: Kind, lim: Limits,
    book: EpisodeBook, out: list[AlertChange], event: bool = False, above: float = 0.0,
) -> None:
    """Judge the quiet span at this reading: by use events (default) or by litres (coarse meters).

    `above`: the litres of an event above the base flow (signs.above_base), for the clear's hysteresis.
    """
    if lim.t.no_usage_signs == "events":
        _no_usage_events(st, mid, now, total, dv, kind, event, lim, book, out, above)
    else:
        _no_usage_litres(st, mid, now, total, dv, kind, lim, book, out)


def _cleared_by(st: MeterState, now: float, above: float, t: WaterThresholds) -> tuple[str, float] | None:
    """Hysteresis of an open episode: ("use", litres) for one event of no_usage_clear_event_l, ("small_uses",
    litres) for small ones adding up to it in the window; None while they do not."""
    if above >= t.no_usage_clear_event_l - 1e-9:
        return "use", above
    small = st.nu_small
    if not small or now - small[0] > t.no_usage_clear_window_h * 3600:
        st.nu_small = small = [now, 0.0]
    small[1] += above
    return ("small_uses", small[1]) if small[1] >= t.no_usage_clear_event_l - 1e-9 else None


def _no_usage_events(
    st: MeterState, mid: str, now: float, total: float, dv: float, kind: Kind, event: bool, lim: Limits,
    book: EpisodeBook, out: list[AlertChange], above: float = 0.0,
) -> None:
    """Signs of life: the quiet span runs from the last use event (nu = [its ts, the register then])."""
    if kind >= Kind.DOWN:
        st.nu = [now, total]  # use unknown across a reset or jump: the span restarts, nothing clears
    away_now = fold_away(st, now)
    t = lim.t
    severity = severity_open(book, NO_USAGE, mid)
    cleared_by = _cleared_by(st, now, above, t) if event and severity is not None else None
    if event and (severity is None or cleared_by):  # a small rise while open is no proof of life: the count goes on
        if not away_now:
            learn_quiet(st, now - max(st.nu[0], st.away_floor), now, lim)
        st.nu = [now, total]
    start = max(st.nu[0], st.away_floor)
    span = now - start
    if severity is not None:
        if away_now or not t.no_usage_enabled:
            st.nu_small = []
            clear(book, out, NO_USAGE, mid, now, f"Resident away: no-usage watch paused at meter {mid}",
                  {"cleared_by": "away" if away_now else "disabled"})
        elif cleared_by:
            how, used = cleared_by
            st.nu_small = []
            clear(book, out, NO_USAGE, mid, now, f"Water used again at meter {mid} ({used:.1f} L)",
                  {"cleared_by": how, "used_l": round(used, 1)})
        elif span >= lim.no_usage_critical_s and severity != "critical":
            _raise_no_event(st, mid, now, total, start, "critical", lim, book, out)
        return
    if away_now or not t.no_usage_enabled or span < warning_after(st, lim):
        return
    level: Severity = "critical" if span >= lim.no_usage_critical_s else "warning"
    _raise_no_event(st, mid, now, total, start, level, lim, book, out)


def _raise_no_event(
    st: MeterState, mid: str, now: float, total: float, start: float, severity: Severity, lim: Limits,
    book: EpisodeBook, out: list[AlertChange],
) -> None:
    quiet_h = hours(now - start)
    need = event_litres(st, lim)
    base_lph = base_flow_lps(st) * 3600
    flowing = f"; {base_lph:.1f} L/h flows on, not a person" if base_lph >= 0.05 else ""
    raise_(
        book, out, NO_USAGE, mid, severity, start, now,
        f"No water used for {quiet_h:.1f} h at meter {mid} (no flush, wash or tap since {iso(start)}{flowing})",
        {"quiet_h": quiet_h, "used_l": round(max(total - st.nu[1], 0.0), 1), "since": iso(start),
         "signs": "events", "event_l": round(need, 2), "base_flow_lph": round(base_lph, 2),
         "usual_quiet_h": hours(st.usual_quiet)},
    )


def _no_usage_litres(
    st: MeterState, mid: str, now: float, total: float, dv: float, kind: Kind, lim: Limits,
    book: EpisodeBook, out: list[AlertChange],
) -> None:
    before = max(st.nu[0], st.away_floor)
    popped = quiet_history(st, total, kind, lim, now)
    away_now = fold_away(st, now)
    t = lim.t
    severity = severity_open(book, NO_USAGE, mid)
    start = max(st.nu[0], st.away_floor)
    span = now - start
    if popped and not away_now:
        learn_quiet(st, now - before, now, lim)
    if severity is not None:
        if away_now or not t.no_usage_enabled:
            clear(book, out, NO_USAGE, mid, now, f"Resident away: no-usage watch paused at meter {mid}",
                  {"cleared_by": "away" if away_now else "disabled"})
        elif kind == Kind.FLOW and dv >= t.no_usage_clear_l:
            learn_quiet(st, now - start, now, lim)
            clear(book, out, NO_USAGE, mid, now, f"Water used again at meter {mid} ({dv:.1f} L)",
                  {"cleared_by": "use", "used_l": round(dv, 1)})
            st.nu = [now, total]
        elif popped and span < lim.no_usage_warning_s:
            clear(book, out, NO_USAGE, mid, now,
                  f"Water used again at meter {mid} ({t.no_usage_max_l:g} L or more in small amounts)",
                  {"cleared_by": "small_uses", "quiet_h": hours(span)})
            st.nu = [now, total]
        elif span >= lim.no_usage_critical_s and severity != "critical":
            _raise_no_usage(st, mid, now, total, start, "critical", lim, book, out)
        return
    if away_now or not t.no_usage_enabled or t.no_usage_max_l <= 0 or span < warning_after(st, lim):
        return
    level: Severity = "critical" if span >= lim.no_usage_critical_s else "warning"
    _raise_no_usage(st, mid, now, total, start, level, lim, book, out)


def _raise_no_usage(
    st: MeterState, mid: str, now: float, total: float, start: float, severity: Severity, lim: Limits,
    book: EpisodeBook, out: list[AlertChange],
) -> None:
    used = max(total - st.nu[1], 0.0)
    quiet_h = hours(now - start)
    max_l = lim.t.no_usage_max_l
    raise_(
        book, out, NO_USAGE, mid, severity, start, now,
        f"No water used for {quiet_h:.1f} h at meter {mid} ({used:.1f} L, under {max_l:g} L) since {iso(start)}",
        {"quiet_h": quiet_h, "used_l": round(used, 1), "max_l": max_l, "since": iso(start),
         "usual_quiet_h": hours(st.usual_quiet)},
    )


def spike(
    st: MeterState, mid: str, now: float, total: float, kind: Kind, lim: Limits,
    book: EpisodeBook, out: list[AlertChange], gap: bool = False,
) -> None:
    sp = st.sp
    if kind >= Kind.DOWN:
        st.sp, st.sp_base, st.sp_gap = [now, total], None, None
        return
    if gap:
        st.sp_gap = now  # the lower bound counts only use measured after the gap
    if now - sp[-2] >= SPIKE_STEP_S or gap:
        sp += (now, total)
    cutoff = now - DAY_S
    while len(sp) > 2 and sp[0] < cutoff:
        st.sp_base = sp[0:2]
        del sp[0:2]
    limit = lim.t.spike_l_per_day
    first = 0  # the oldest kept point the lower bound may start from
    if st.sp_gap is not None:
        while first < len(sp) - 2 and sp[first] < st.sp_gap:
            first += 2
    low = total - sp[first + 1]
    is_open = (SPIKE, mid) in book.open
    if not is_open and low > limit:
        # started_at: the latest kept point since which more than the limit was used (the burst's start).
        i = len(sp) - 2
        while total - sp[i + 1] <= limit:
            i -= 2
        start, used = sp[i], total - sp[i + 1]
        raise_(
            book, out, SPIKE, mid, "warning", start, now,
            f"{used:.0f} L used in {hours(now - start):.1f} h at meter {mid} (more than {limit:g} L a day)"
            f" since {iso(start)}",
            {"litres": round(used, 1), "hours": hours(now - start), "litres_24h": round(low, 1), "limit_l": limit,
             "since": iso(start)},
        )
    elif is_open and st.sp_base is not None and total - st.sp_base[1] <= limit:
        high = total - st.sp_base[1]
        clear(book, out, SPIKE, mid, now, f"Use back under {limit:g} L a day at meter {mid} ({high:.0f} L)",
              {"cleared_by": "day_under", "litres_day_max": round(high, 1)})
