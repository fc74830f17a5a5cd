"""WaterRules: the water rules of a fleet of meters, on event time, pure (no I/O, no clock, no threads).

Per meter, readings are taken in event-time order. A reading with the ts of the last accepted one
is a duplicate; an older one is out of order and ignored by the rules: the register is
cumulative, so the interval between the two accepted readings around it already holds its
volume (only the detail of when inside that interval is lost). Each interval between accepted
readings is classified once (intervals.classify) and handed to each rule in turn.
Times are epoch seconds rounded to the millisecond, the precision of the alert JSON, so an
episode restored from its RFC 3339 form keeps its id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ingest.wire.water import AwayNotice, Reading
from rules.episode import AlertChange, EpisodeBook
from rules.water.device import OFFLINE, TAMPER, OfflineWatch, reading_back, tamper
from rules.water.emit import clear, iso
from rules.water.flow import CONTINUOUS_FLOW, TAP_OPEN, continuous_flow, tap_open
from rules.water.gateway import GATEWAY, STATE_PREFIX, Gateways
from rules.water.intervals import (
    LEARN_INTERVALS,
    Kind,
    Limits,
    classify,
    learn_gap,
    learn_recurring,
    learnt_interval_s,
)
from rules.water.night import night_flow
from rules.water.signs import above_base, is_event, learn_resolution
from rules.water.signs import learn as learn_signs
from rules.water.state import MeterState
from rules.water.thresholds import WaterThresholds
from rules.water.usage import NO_USAGE, SPIKE, no_usage, spike

log = logging.getLogger(__name__)

ALERT_TYPES = (NO_USAGE, CONTINUOUS_FLOW, TAP_OPEN, SPIKE, OFFLINE, TAMPER)
GAP_INTERVALS = 1.5  # an interval this many learnt intervals long (and over the flow interval) is a gap
MAX_AWAY_NOTICES = 8  # per meter: absences not yet over; beyond, the latest-starting are dropped

Status = Literal["accepted", "duplicate", "out_of_order"]


@dataclass(frozen=True, slots=True)
class ReadingOutcome:
    status: Status
    changes: list[AlertChange] = field(default_factory=list)


def _epoch(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


class WaterRules:
    def __init__(self, thresholds_for: Callable[[str], WaterThresholds],
                 building_of: Callable[[str], str | None] | None = None) -> None:
        """`building_of`: meter id -> building id (the registry), for gateway_offline; None: no buildings."""
        self._thresholds_for = thresholds_for
        self._limits: dict[str, Limits] = {}
        self._by_thresholds: dict[WaterThresholds, Limits] = {}  # 100k meters, a handful of distinct settings
        self._states: dict[str, MeterState] = {}
        self._book = EpisodeBook()
        self._gateways = Gateways(building_of)
        self._offline = OfflineWatch(self._gateways)
        self._dirty: set[str] = set()
        self._watermark = float("-inf")
        self.load_errors: dict[str, str] = {}

    # -- thresholds -------------------------------------------------------------------------
    def limits(self, meter_id: str) -> Limits:
        lim = self._limits.get(meter_id)
        if lim is None:
            thresholds = self._thresholds_for(meter_id)
            lim = self._by_thresholds.get(thresholds)  # frozen: hashed by value, equal ones share
            if lim is None:
                lim = self._by_thresholds[thresholds] = Limits.of(thresholds)
            self._limits[meter_id] = lim
        return lim

    def refresh_thresholds(self) -> None:
        """Ask thresholds_for again (after a registry reload); each meter's next reading uses the new values."""
        self._limits.clear()
        self._by_thresholds.clear()

    # -- events -----------------------------------------------------------------------------
    def on_reading(self, reading: Reading) -> ReadingOutcome:
        mid = reading.meter_id
        now = _epoch(reading.ts)
        st = self._state(mid)
        lim = self.limits(mid)
        prev_ts = st.last_ts
        flow = reading.flow_lpm
        if prev_ts is None:
            st.start(now, reading.total_l, flow)
            learn_resolution(st, reading.total_l)
            st.off_first = now
            lag = self._watermark - now  # a first reading that arrives late: the meter uploads in batches
            if 0 < lag <= lim.offline_critical_s / 2:
                st.usual_gap = max(st.usual_gap, lag)
            self._offline.schedule(st, mid, lim, self._book)
            self._dirty.add(mid)
            return ReadingOutcome("accepted", [])
        if now <= prev_ts:
            return ReadingOutcome("duplicate" if now == prev_ts else "out_of_order", [])
        prev_total, prev_flow = st.last_total, st.last_flow
        dt = now - prev_ts
        dv = reading.total_l - prev_total
        kind = classify(dt, dv, lim)
        # A small backstep is jitter: keep the register's high-water mark.
        total = prev_total if (kind == Kind.ZERO and dv < 0) else reading.total_l
        book = self._book
        out: list[AlertChange] = []
        st.hold = None
        rejoin = self._gateways.back(mid, now, self._states, self.limits, book, out) if st.gw else []
        reading_back(st, mid, now, lim, book, out)
        interval = learnt_interval_s(st.recent, lim)
        # A gap: an interval the meter's cadence does not explain; its volume's timing is unknown.
        gap = dt > max(lim.flow_interval_max_s, GAP_INTERVALS * interval)
        learn_resolution(st, reading.total_l)
        event = is_event(st, dt, dv, kind, lim)
        st.usual_gap = learn_gap(st.usual_gap, dt, self._watermark - prev_ts, interval, lim)
        st.long_gaps = learn_recurring(st.long_gaps, dt, interval, lim)
        st.usual_gap = max(st.usual_gap, min(st.long_gaps[1], lim.offline_critical_s / 2))
        recent = st.recent
        recent.append(dt)
        if len(recent) > LEARN_INTERVALS:
            del recent[0]
        tamper(st, mid, now, dt, dv, kind, lim, book, out)
        no_usage(st, mid, now, total, dv, kind, lim, book, out, event, above_base(st, dt, dv) if event else 0.0)
        continuous_flow(st, mid, prev_ts, prev_total, now, total, dt, kind, lim, book, out)
        night_flow(st, mid, now, total, kind, lim, book, out)
        tap_open(st, mid, prev_ts, prev_total, prev_flow, now, dt, dv, flow, kind, lim, book, out, gap)
        spike(st, mid, now, total, kind, lim, book, out, gap)
        learn_signs(st, now, dt, dv, kind, interval)
        if kind >= Kind.DOWN:
            st.start(now, total, flow)  # rebase: the rules above already restarted their windows
        else:
            st.last_ts, st.last_total, st.last_flow = now, total, flow
        self._offline.schedule(st, mid, lim, book)
        for other in rejoin:  # the gateway is back: a meter still silent is judged on its own again
            if other != mid:
                self._offline.schedule(self._states[other], other, self.limits(other), book)
                self._dirty.add(other)
        self._dirty.add(mid)
        return ReadingOutcome("accepted", out)

    def _state(self, mid: str) -> MeterState:
        st = self._states.get(mid)
        if st is None:
            st = self._states[mid] = MeterState()
            self._gateways.join(mid)
        return st

    def on_away(self, notice: AwayNotice) -> list[AlertChange]:
        """Store an absence; clear an open no-usage episode whose quiet span it covers.

        It covers the episode when it began by the meter's last reading and ended after the
        quiet span began. The quiet span then restarts at the notice's end, so a new episode
        (with a new id) counts only the silence after the resident is back.
        """
        mid = notice.meter_id
        st = self._state(mid)
        start, until = _epoch(notice.start), _epoch(notice.until)
        st.away.append([start, until])
        st.away.sort()
        del st.away[MAX_AWAY_NOTICES:]
        self._dirty.add(mid)
        out: list[AlertChange] = []
        episode = self._book.open.get((NO_USAGE, mid))
        if episode is not None and st.last_ts is not None and start <= st.last_ts \
                and until > episode.started_at.timestamp():
            clear(self._book, out, NO_USAGE, mid, st.last_ts,
                  f"Resident away from {iso(start)} until {iso(until)}: no-usage alert withdrawn at meter {mid}",
                  {"cleared_by": "away", "away_from": iso(start), "away_until": iso(until)})
            st.away_floor = max(st.away_floor, until)
        return out

    def advance(self, watermark: datetime) -> list[AlertChange]:
        """The fleet watermark moved: raise meter_offline where a deadline passed (a watermark never goes back)."""
        mark = _epoch(watermark)
        if mark <= self._watermark:
            return []
        self._watermark = mark
        fired = self._offline.advance(mark, self._states, self.limits, self._book)
        for _, mid, _ in fired:
            self._dirty.add(mid)
        return [change for _, _, change in fired]

    # -- persistence ------------------------------------------------------------------------
    def dirty(self) -> dict[str, dict[str, Any]]:
        """JSON-able state of the meters changed since the last call; they are clean afterwards."""
        states = {mid: self.state_of(mid) for mid in sorted(self._dirty)}
        self._dirty.clear()
        states.update(self._gateways.take_dirty(self._book))
        return states

    def state_of(self, meter_id: str) -> dict[str, Any]:
        keys = [(t, meter_id) for t in ALERT_TYPES if (t, meter_id) in self._book.open]
        episodes = EpisodeBook({k: self._book.open[k] for k in keys}).to_state() if keys else []
        return self._states[meter_id].to_dict(episodes)

    def load(self, states: dict[str, dict[str, Any]]) -> None:
        """Restore meters (after a restart). A state that cannot be read is skipped, named in load_errors."""
        for mid, data in states.items():
            if mid.startswith(STATE_PREFIX):
                self._load_gateway(mid, data)
                continue
            try:
                st = MeterState.from_dict(data)
                episodes = EpisodeBook.from_state(data.get("ep", []))
                if any(subject != mid for _, subject in episodes.open):
                    raise ValueError("an episode of another meter")
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                self.load_errors[mid] = f"{type(exc).__name__}: {exc}"
                log.warning("water rules: state of meter %s skipped: %s", mid, exc)
                continue
            for alert_type in ALERT_TYPES:
                self._book.open.pop((alert_type, mid), None)
            self._book.open.update(episodes.open)
            self._states[mid] = st
            self._gateways.join(mid)
            self._limits.pop(mid, None)
        self._offline.rebuild(self._states, self.limits, self._book)

    def forget(self, meter_id: str) -> bool:
        """Drop a meter's state (one nobody registered went silent); never while one of its episodes is open."""
        if any((t, meter_id) in self._book.open for t in ALERT_TYPES):
            return False
        self._states.pop(meter_id, None)
        self._limits.pop(meter_id, None)
        self._dirty.discard(meter_id)
        self._gateways.leave(meter_id)
        return True

    def last_reading_at(self, meter_id: str) -> float | None:
        st = self._states.get(meter_id)
        return None if st is None else st.last_ts

    def _load_gateway(self, key: str, data: dict[str, Any]) -> None:
        building = key.removeprefix(STATE_PREFIX)
        try:
            episodes = EpisodeBook.from_state(data.get("ep", []))
            if any(t != GATEWAY or subject != building for t, subject in episodes.open):
                raise ValueError("an episode of another kind or building")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            self.load_errors[key] = f"{type(exc).__name__}: {exc}"
            log.warning("water rules: state of %s skipped: %s", key, exc)
            return
        self._book.open.pop((GATEWAY, building), None)
        self._book.open.update(episodes.open)

    def meters(self) -> int:
        return len(self._states)

    def open_episodes(self) -> list[AlertChange]:
        """The open episodes as changes of their last revision (for a health page or a resync)."""
        return [
            AlertChange(t, s, "active", e.severity, e.started_at, e.raised_at, None, e.summary, e.evidence,  # type: ignore[arg-type]
                        e.revision)
            for (t, s), e in sorted(self._book.open.items())
        ]
