"""Per-meter rule state: small, plain numbers, JSON-serialisable (times are epoch seconds).

Two short histories carry the windowed rules, each as a flat list [ts, total, ts, total, ...]:
- `nu` (no usage): the readings within the last `no_usage_max_l` litres of use, thinned to points
  at least max_l/20 litres apart (at most ~21 points). The first point starts the quiet span.
- `sp` (spike): readings within the last 24 h, thinned to one an hour (at most ~25 points), and
  `sp_base`, the newest point that fell out of the day (for an upper bound on the day's use).
A meter's state is about 0.3-1.5 KB of JSON.
"""

from __future__ import annotations

from typing import Any

STATE_VERSION = 1


class MeterState:
    __slots__ = (
        "last_ts", "last_total", "last_flow", "recent", "usual_gap", "usual_quiet", "quiet_seen",
        "nu", "away", "away_floor",
        "sp", "sp_base",
        "flow_since", "flow_total", "zero_since",
        "tap_start", "tap_total", "tap_n", "tap_ok",
        "tamper_last", "tamper_n",
        "sched",
    )

    def __init__(self) -> None:
        self.last_ts: float | None = None  # None until the first reading (an away notice may come first)
        self.last_total = 0.0  # high-water mark of the register within the current segment
        self.last_flow: float | None = None
        self.recent: list[float] = []  # the last few interval lengths, seconds
        self.usual_gap = 0.0  # the meter's habitual longest silence, seconds (a decaying maximum)
        self.usual_quiet = 0.0  # the household's habitual longest quiet span, seconds (decaying maximum)
        self.quiet_seen: float | None = None  # event time usual_quiet was last learnt
        self.nu: list[float] = []
        self.away: list[list[float]] = []  # [start, until] notices not yet over
        self.away_floor = 0.0  # the latest end of an absence: a quiet span starts no earlier
        self.sp: list[float] = []
        self.sp_base: list[float] | None = None
        self.flow_since: float | None = None  # start of the current run of flow (continuous_flow)
        self.flow_total = 0.0
        self.zero_since: float | None = None  # start of the current zero-volume stretch
        self.tap_start: float | None = None  # start of the current run of high-flow intervals
        self.tap_total = 0.0
        self.tap_n = 0
        self.tap_ok = False  # every reading of the run had flow_lpm at or above tap_open_lpm
        self.tamper_last: float | None = None
        self.tamper_n = 0
        self.sched: float | None = None  # in memory only: the offline heap's key for this meter

    def start(self, ts: float, total: float, flow: float | None) -> None:
        """First reading, or a rebase after a register reset or jump."""
        self.last_ts, self.last_total, self.last_flow = ts, total, flow
        self.nu = [ts, total]
        self.sp = [ts, total]
        self.sp_base = None
        self.flow_since = self.zero_since = self.tap_start = None

    def to_dict(self, episodes: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "ts": self.last_ts, "tot": self.last_total, "flow": self.last_flow, "iv": self.recent,
            "gap": self.usual_gap, "uq": [self.usual_quiet, self.quiet_seen],
            "nu": self.nu, "aw": self.away, "awf": self.away_floor,
            "sp": self.sp, "spb": self.sp_base,
            "fs": self.flow_since, "ft": self.flow_total, "zs": self.zero_since,
            "tap": [self.tap_start, self.tap_total, self.tap_n, self.tap_ok],
            "tm": [self.tamper_last, self.tamper_n],
            "ep": episodes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeterState:
        """Raises KeyError, TypeError or ValueError on a state this version did not write."""
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"unknown state version {data.get('v')!r}")
        st = cls()
        st.last_ts = _opt(data["ts"])
        st.last_total = float(data["tot"])
        st.last_flow = _opt(data["flow"])
        st.recent = [float(x) for x in data["iv"]]
        st.usual_gap = float(data.get("gap", 0.0))  # absent in states written before it existed
        st.usual_quiet, st.quiet_seen = float(data.get("uq", [0.0])[0]), _opt(data.get("uq", [0, None])[1])
        st.nu = _pairs(data["nu"])
        st.away = [[float(s), float(u)] for s, u in data["aw"]]
        st.away_floor = float(data["awf"])
        st.sp = _pairs(data["sp"])
        st.sp_base = [float(x) for x in data["spb"]] if data["spb"] is not None else None
        st.flow_since, st.flow_total, st.zero_since = _opt(data["fs"]), float(data["ft"]), _opt(data["zs"])
        tap_start, tap_total, tap_n, tap_ok = data["tap"]
        st.tap_start, st.tap_total, st.tap_n, st.tap_ok = _opt(tap_start), float(tap_total), int(tap_n), bool(tap_ok)
        st.tamper_last, st.tamper_n = _opt(data["tm"][0]), int(data["tm"][1])
        if st.last_ts is not None and (not st.nu or not st.sp):
            raise ValueError("a meter with readings needs its histories")
        return st


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _pairs(values: list[Any]) -> list[float]:
    if len(values) % 2:
        raise ValueError("a history is a flat list of (ts, total) pairs")
    return [float(x) for x in values]
