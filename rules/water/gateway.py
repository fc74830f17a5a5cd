"""water.gateway_offline: a building whose meters all fall silent together is one episode.

The meters of a building usually reach the edge through one gateway (a concentrator, a
building's network). When it is down every meter goes silent at once; one alert for the
building says what a person can act on ("the gateway"), where one meter_offline per meter
would page a worker a dozen times for one fault. Judged at a meter's offline warning:
- another meter of the building reported after this one fell silent (beyond an interval and
  a half): the meter alone is offline (meter_offline);
- all of them fell silent with it, but some are due later (their own cadence): the meter waits
  for the last of their warnings, and the building is judged as a whole then;
- all of them are silent and due: gateway_offline for the building (subject: the building id),
  started at the first of their last readings; the meters' own deadlines follow the gateway's
  episode (critical at the critical hours of the meter that raised it).
A building needs two meters seen or more. Cleared by the first reading from any of its meters:
the gateway is back; a meter still silent its own patience after that is judged on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.episode import AlertChange, EpisodeBook
from rules.water.emit import clear, hours, iso, raise_, severity_open
from rules.water.intervals import Limits, learnt_interval_s, offline_dues
from rules.water.state import MeterState

GATEWAY = "water.gateway_offline"
OFFLINE = "water.meter_offline"
TOGETHER_INTERVALS = 1.5  # meters whose last readings are this close fell silent together
STATE_PREFIX = "gateway:"  # dirty()/load() keys of the gateway episodes


class Gateways:
    """The buildings' meters and their gateway episodes (in the rules' one episode book)."""

    def __init__(self, building_of: Callable[[str], str | None] | None) -> None:
        self._building_of = building_of
        self._building: dict[str, str | None] = {}
        self.members: dict[str, set[str]] = {}
        self.dirty: set[str] = set()

    def join(self, mid: str) -> None:
        if mid in self._building:
            return
        building = self._building_of(mid) if self._building_of else None
        self._building[mid] = building
        if building:
            self.members.setdefault(building, set()).add(mid)

    def leave(self, mid: str) -> None:
        """Forget a meter (the engine dropped its state): its building is looked up again if it comes back."""
        building = self._building.pop(mid, None)
        if building and building in self.members:
            self.members[building].discard(mid)

    def building(self, mid: str) -> str | None:
        return self._building.get(mid)

    def severity(self, mid: str, book: EpisodeBook) -> str | None:
        building = self._building.get(mid)
        return severity_open(book, GATEWAY, building) if building else None

    def judge(self, mid: str, st: MeterState, at: float, states: dict[str, MeterState],
              limits: Callable[[str], Limits], book: EpisodeBook,
              due: Callable[..., tuple[float, str] | None]) -> str | float:
        """"meter", "gateway", or the time to judge again (the building's last warning due)."""
        building = self._building.get(mid)
        members = self.members.get(building, set()) if building else set()
        if len(members) < 2 or st.last_ts is None:
            return "meter"
        together = st.last_ts + TOGETHER_INTERVALS * learnt_interval_s(st.recent, limits(mid))
        later = 0.0
        for other in members - {mid}:
            o = states.get(other)
            if o is None or o.last_ts is None:
                continue
            if o.last_ts > together:
                return "meter"  # the way is open: this meter alone is silent
            if not o.gw and (OFFLINE, other) not in book.open:
                o_due = due(o, other, limits(other), book)
                if o_due is not None and o_due[0] > at:
                    later = max(later, o_due[0])
        return later if later else "gateway"

    def raise_(self, mid: str, at: float, states: dict[str, MeterState], limits: Callable[[str], Limits],
               book: EpisodeBook, out: list[AlertChange]) -> list[str]:
        """Raise the building's episode; returns the meters that joined it."""
        building = self._building[mid]
        assert building is not None
        joined = sorted(m for m in self.members[building]
                        if states.get(m) is not None and states[m].last_ts is not None
                        and (OFFLINE, m) not in book.open)
        since = min(states[m].last_ts for m in joined)  # type: ignore[type-var]
        for m in joined:
            states[m].gw = True
            states[m].hold = None
        n = len(self.members[building])
        raise_(book, out, GATEWAY, building, "warning", since, at,
               f"All {n} meters of building {building} silent since {iso(since)} "
               f"({hours(at - since):.1f} h): the building's gateway or network is down",
               {"meters": sorted(self.members[building]), "silent_h": hours(at - since), "since": iso(since)})
        self.dirty.add(building)
        return joined

    def escalate(self, mid: str, at: float, lim: Limits, book: EpisodeBook, out: list[AlertChange]) -> None:
        building = self._building.get(mid)
        episode = book.open.get((GATEWAY, building)) if building else None
        if episode is None or building is None:
            return
        since = episode.started_at.timestamp()
        raise_(book, out, GATEWAY, building, "critical", since, at,
               f"All meters of building {building} silent for {hours(at - since):.1f} h since {iso(since)}: "
               "the building's gateway or network is down",
               {**episode.evidence, "silent_h": hours(at - since)})
        self.dirty.add(building)

    def back(self, mid: str, now: float, states: dict[str, MeterState], limits: Callable[[str], Limits],
             book: EpisodeBook, out: list[AlertChange]) -> list[str]:
        """A meter of a silent building reported: the gateway is back. Returns the meters to reschedule.

        The others get their own patience from now (they resume in their own phase) before a
        meter_offline of their own.
        """
        building = self._building.get(mid)
        if building is None:
            return []
        members = sorted(m for m in self.members.get(building, ()) if m in states and states[m].gw)
        for m in members:
            o = states[m]
            o.gw = False
            lim = limits(m)
            o.hold = offline_dues(now, learnt_interval_s(o.recent, lim), lim, o.usual_gap)[0] if m != mid else None
        if (GATEWAY, building) in book.open:
            clear(book, out, GATEWAY, building, now,
                  f"Building {building} reporting again (meter {mid} first)",
                  {"cleared_by": "reading", "first_meter": mid})
            self.dirty.add(building)
        return members

    def take_dirty(self, book: EpisodeBook) -> dict[str, dict[str, Any]]:
        """The gateway episodes changed since the last call, as states keyed "gateway:<building>"."""
        out = {}
        for building in sorted(self.dirty):
            key = (GATEWAY, building)
            episodes = EpisodeBook({key: book.open[key]}).to_state() if key in book.open else []
            out[STATE_PREFIX + building] = {"gateway": building, "ep": episodes}
        self.dirty.clear()
        return out
