"""water.meter_tamper and water.meter_offline: the meter itself, not the home.

Tamper: the register went down by more than register_backstep_l (DAIAD's 1-2 L backsteps are
jitter or backflow) or rose faster than max_pipe_lpm: warning at the first event, critical at
tamper_critical_events events within the episode (a ±248,500 L glitch is two: down, then back
up). started_at = the first event's reading. Cleared by the first reading tamper_clear_h after
the last event (every interval since then was plausible, or it would have been an event).

Offline: judged against the fleet watermark in advance(). The reporting interval is learnt
per meter (intervals.learnt_interval_s), and so is its upload cadence: a meter that uploads
in batches shows a lag behind the fleet from its first reading on (learn_gap), and a new meter
waits offline_learn_h before its first warning. One episode per outage, with hysteresis: the
episode clears once the meter has reported regularly for offline_clear_h; a new silence before
then is the same outage (a meter on a bad link is one alert, not one per gap). Flap damping: each
outage of the recent past (a count fading over FLAP_FADE_S, relapses included) adds offline_clear_h
to the wait, up to offline_clear_max_h, so a link that keeps dropping out every day or two stays one
episode instead of one per outage; a meter's first outage still clears after offline_clear_h. A building whose
meters all fall silent together is one water.gateway_offline episode (gateway.py), not one
meter_offline per meter. A heap holds one live deadline per meter, so advance()
costs O(log n) per deadline that falls due, not a scan: a reading pushes a new key only when
its deadline is earlier than the scheduled one (the interval shrank); a key that pops early is
pushed back at the meter's true deadline; a key that no longer matches the meter is stale.
raised_at is the deadline itself, not the watermark: the same data gives the same changes
however often advance() is called.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Literal

from ingest.wire.alert import Severity
from rules.episode import AlertChange, EpisodeBook
from rules.water.emit import clear, hours, iso, raise_, severity_open
from rules.water.gateway import Gateways
from rules.water.intervals import Kind, Limits, learnt_interval_s, offline_dues
from rules.water.state import MeterState

TAMPER = "water.meter_tamper"
OFFLINE = "water.meter_offline"
# Flap damping: how long an outage counts against a meter's link (an e-fold time). 14 days, chosen on the
# validation half of the DAIAD meters: 3, 7, 14 days gave 5.97, 5.70, 5.42 alert changes per meter-month.
FLAP_FADE_S = 14 * 86400.0


def tamper(
    st: MeterState, mid: str, now: float, dt: float, dv: float, kind: Kind, lim: Limits,
    book: EpisodeBook, out: list[AlertChange],
) -> None:
    if kind < Kind.DOWN:
        if st.tamper_last is not None and now - st.tamper_last >= lim.tamper_clear_s:
            st.tamper_last = None
            clear(book, out, TAMPER, mid, now,
                  f"Register of meter {mid} plausible for {lim.t.tamper_clear_h:g} h",
                  {"cleared_by": "plausible_readings"})
        return
    severity = severity_open(book, TAMPER, mid)
    st.tamper_n = 1 if severity is None else st.tamper_n + 1
    st.tamper_last = now
    what = (f"went down by {-dv:.0f} L (reset, exchange or tamper)" if kind == Kind.DOWN
            else f"jumped by {dv:.0f} L in {dt / 60:.0f} min (faster than a pipe: glitch or tamper)")
    evidence = {"event": "down" if kind == Kind.DOWN else "jump", "step_l": round(dv, 1),
                "interval_min": round(dt / 60, 1), "events": st.tamper_n}
    if severity is None:
        raise_(book, out, TAMPER, mid, "warning", now, now, f"Register of meter {mid} {what}", evidence)
    elif st.tamper_n >= lim.t.tamper_critical_events and severity != "critical":
        start = book.open[(TAMPER, mid)].started_at.timestamp()
        raise_(book, out, TAMPER, mid, "critical", start, now,
               f"Register of meter {mid} reset or jumped {st.tamper_n} times since {iso(start)}; last: {what}",
               evidence)


def recent_outages(st: MeterState, now: float) -> float:
    """The meter's outages of the recent past, fading with FLAP_FADE_S."""
    if not st.off_n:
        return 0.0
    count, seen = st.off_n
    return count * math.exp(-max(now - seen, 0.0) / FLAP_FADE_S)


def count_outage(st: MeterState, now: float) -> None:
    st.off_n = [recent_outages(st, now) + 1.0, now]


def clear_after_s(st: MeterState, now: float, lim: Limits) -> float:
    """Regular readings needed to clear: offline_clear_h, once more for each earlier recent outage (flap damping)."""
    earlier = max(recent_outages(st, now) - 1.0, 0.0)  # the outage of this episode is counted too
    return min(lim.offline_clear_s * (1.0 + earlier), lim.offline_clear_max_s)


def reading_back(st: MeterState, mid: str, now: float, lim: Limits, book: EpisodeBook,
                 out: list[AlertChange]) -> None:
    """A reading arrived (before st moves to it): recovering, or cleared after enough regular readings."""
    if (OFFLINE, mid) not in book.open or st.last_ts is None:
        return
    warning, _ = offline_dues(st.last_ts, learnt_interval_s(st.recent, lim), lim, st.usual_gap, st.off_first)
    if st.off_ok is None or now > warning:  # back, or silent again while recovering: count from here
        st.off_ok = now
    if now - st.off_ok < clear_after_s(st, now, lim):
        return
    back = st.off_ok
    st.off_ok = None
    clear(book, out, OFFLINE, mid, now,
          f"Meter {mid} reporting again since {iso(back)} ({hours(now - back):.1f} h of regular readings)",
          {"cleared_by": "reading", "back_since": iso(back), "steady_h": hours(now - back)})


Action = Literal["warning", "critical", "relapse", "gateway_critical"]


def next_due(st: MeterState, mid: str, lim: Limits, book: EpisodeBook,
             gateway_severity: str | None = None) -> tuple[float, Action] | None:
    """The next offline deadline of a meter and what it brings; None when nothing is left to fire.

    relapse: silent again while recovering (the episode stays open and waits for regular readings);
    gateway_critical: the meter's silence is part of its building's gateway episode.
    """
    if st.last_ts is None:
        return None
    warning, critical = offline_dues(st.last_ts, learnt_interval_s(st.recent, lim), lim, st.usual_gap,
                                     st.off_first)
    due: tuple[float, Action] | None
    severity = severity_open(book, OFFLINE, mid)
    if st.gw:
        due = (critical, "gateway_critical") if gateway_severity == "warning" else None
    elif severity is None:
        due = (warning, "warning") if warning < critical else (critical, "critical")
    elif st.off_ok is not None:
        due = (warning, "relapse")
    elif severity == "warning":
        due = (critical, "critical")
    else:
        due = None
    if due is not None and st.hold is not None and st.hold > due[0]:
        due = (st.hold, due[1])
    return due


class OfflineWatch:
    """Deadlines of silent meters, in a heap keyed by (deadline, meter_id)."""

    def __init__(self, gateways: Gateways) -> None:
        self.heap: list[tuple[float, str]] = []
        self.gateways = gateways

    def due(self, st: MeterState, mid: str, lim: Limits, book: EpisodeBook) -> tuple[float, Action] | None:
        return next_due(st, mid, lim, book, self.gateways.severity(mid, book) if st.gw else None)

    def schedule(self, st: MeterState, mid: str, lim: Limits, book: EpisodeBook) -> None:
        due = self.due(st, mid, lim, book)
        if due is not None and (st.sched is None or due[0] < st.sched):
            st.sched = due[0]
            heapq.heappush(self.heap, (due[0], mid))

    def advance(
        self, watermark: float, states: dict[str, MeterState], limits: Callable[[str], Limits], book: EpisodeBook,
    ) -> list[tuple[float, str, AlertChange]]:
        """Fire the deadlines up to the watermark: (deadline, meter_id, change), in deadline order."""
        fired: list[tuple[float, str, AlertChange]] = []
        heap = self.heap
        while heap and heap[0][0] <= watermark:
            key, mid = heapq.heappop(heap)
            st = states.get(mid)
            if st is None or st.sched != key:
                continue  # stale: the meter was rescheduled
            st.sched = None
            lim = limits(mid)
            due = self.due(st, mid, lim, book)
            while due is not None and due[0] <= watermark:
                out: list[AlertChange] = []
                self._fire(st, mid, due, states, limits, book, out)
                fired.extend((due[0], m, change) for m, change in out)
                due = self.due(st, mid, lim, book)
            if due is not None:
                st.sched = due[0]
                heapq.heappush(heap, (due[0], mid))
        fired.sort(key=lambda row: (row[0], row[1]))
        return fired

    def _fire(self, st: MeterState, mid: str, due: tuple[float, Action], states: dict[str, MeterState],
              limits: Callable[[str], Limits], book: EpisodeBook, out: list[tuple[str, AlertChange]]) -> None:
        at, action = due
        changes: list[AlertChange] = []
        if action == "relapse":
            st.off_ok = None  # the same outage goes on: no new episode, no change
            count_outage(st, at)  # but the link is worse than one outage: its clear waits longer
        elif action == "gateway_critical":
            self.gateways.escalate(mid, at, limits(mid), book, changes)
        elif action == "critical" and (OFFLINE, mid) in book.open:
            _raise_offline(st, mid, at, "critical", limits(mid), book, changes)
        else:
            verdict = self.gateways.judge(mid, st, at, states, limits, book, self.due)
            if verdict == "meter":
                _raise_offline(st, mid, at, action if action == "critical" else "warning", limits(mid), book,
                               changes)
            elif verdict == "gateway":
                joined = self.gateways.raise_(mid, at, states, limits, book, changes)
                for other in joined:  # their own deadlines now follow the gateway's episode
                    if other != mid:
                        other_st = states[other]
                        other_st.sched = None
                        self.schedule(other_st, other, limits(other), book)
            else:
                st.hold = verdict  # the building's other meters are due later: judge it as a whole then
        out.extend((c.subject if c.type == OFFLINE else mid, c) for c in changes)

    def rebuild(self, states: dict[str, MeterState], limits: Callable[[str], Limits], book: EpisodeBook) -> None:
        self.heap = []
        for mid, st in states.items():
            st.sched = None
            self.schedule(st, mid, lim=limits(mid), book=book)


def _raise_offline(
    st: MeterState, mid: str, due: float, severity: Severity, lim: Limits, book: EpisodeBook,
    out: list[AlertChange],
) -> None:
    assert st.last_ts is not None
    if (OFFLINE, mid) not in book.open:
        count_outage(st, due)
    interval = learnt_interval_s(st.recent, lim)
    silent = due - st.last_ts
    raise_(
        book, out, OFFLINE, mid, severity, st.last_ts, due,
        f"No reading from meter {mid} for {hours(silent):.1f} h (last at {iso(st.last_ts)},"
        f" expected every {interval / 60:.0f} min)",
        {"silent_h": hours(silent), "last_reading": iso(st.last_ts), "interval_min": round(interval / 60, 1)},
    )
