"""water.meter_tamper and water.meter_offline: the meter itself, not the home.

Tamper: the register went down by more than register_backstep_l (DAIAD's 1-2 L backsteps are
jitter or backflow) or rose faster than max_pipe_lpm: warning at the first event, critical at
tamper_critical_events events within the episode (a ±248,500 L glitch is two: down, then back
up). started_at = the first event's reading. Cleared by the first reading tamper_clear_h after
the last event (every interval since then was plausible, or it would have been an event).

Offline: judged against the fleet watermark in advance(). The reporting interval is learnt
per meter (intervals.learnt_interval_s). A heap holds one live deadline per meter, so advance()
costs O(log n) per deadline that falls due, not a scan: a reading pushes a new key only when
its deadline is earlier than the scheduled one (the interval shrank); a key that pops early is
pushed back at the meter's true deadline; a key that no longer matches the meter is stale.
raised_at is the deadline itself, not the watermark: the same data gives the same changes
however often advance() is called. Cleared at the meter's next accepted reading, at its ts.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from ingest.wire.alert import Severity
from rules.episode import AlertChange, EpisodeBook
from rules.water.emit import clear, hours, iso, raise_, severity_open
from rules.water.intervals import Kind, Limits, learnt_interval_s, offline_dues
from rules.water.state import MeterState

TAMPER = "water.meter_tamper"
OFFLINE = "water.meter_offline"


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


def clear_offline(st: MeterState, mid: str, now: float, book: EpisodeBook, out: list[AlertChange]) -> None:
    if (OFFLINE, mid) in book.open and st.last_ts is not None:
        gap = now - st.last_ts
        clear(book, out, OFFLINE, mid, now, f"Meter {mid} reporting again after {hours(gap):.1f} h",
              {"cleared_by": "reading", "gap_h": hours(gap)})


def next_due(st: MeterState, mid: str, lim: Limits, book: EpisodeBook) -> tuple[float, Severity] | None:
    """The next offline deadline of a meter and the severity it brings; None when nothing is left to fire."""
    if st.last_ts is None:
        return None
    warning, critical = offline_dues(st.last_ts, learnt_interval_s(st.recent, lim), lim, st.usual_gap)
    severity = severity_open(book, OFFLINE, mid)
    if severity is None:
        return (warning, "warning") if warning < critical else (critical, "critical")
    if severity == "warning":
        return critical, "critical"
    return None


class OfflineWatch:
    """Deadlines of silent meters, in a heap keyed by (deadline, meter_id)."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, str]] = []

    def schedule(self, st: MeterState, mid: str, lim: Limits, book: EpisodeBook) -> None:
        due = next_due(st, mid, lim, book)
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
            due = next_due(st, mid, lim, book)
            while due is not None and due[0] <= watermark:
                out: list[AlertChange] = []
                _raise_offline(st, mid, due[0], due[1], lim, book, out)
                fired.extend((due[0], mid, change) for change in out)
                due = next_due(st, mid, lim, book)
            if due is not None:
                st.sched = due[0]
                heapq.heappush(heap, (due[0], mid))
        fired.sort(key=lambda row: (row[0], row[1]))
        return fired

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
    interval = learnt_interval_s(st.recent, lim)
    silent = due - st.last_ts
    raise_(
        book, out, OFFLINE, mid, severity, st.last_ts, due,
        f"No reading from meter {mid} for {hours(silent):.1f} h (last at {iso(st.last_ts)},"
        f" expected every {interval / 60:.0f} min)",
        {"silent_h": hours(silent), "last_reading": iso(st.last_ts), "interval_min": round(interval / 60, 1)},
    )
