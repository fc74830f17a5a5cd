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
        "nu", "nu_small", "away", "away_floor",
        "sp", "sp_base", "sp_gap",
        "flow_since", "flow_total", "zero_since",
        "tap_start", "tap_total", "tap_n", "tap_ok",
        "tamper_last", "tamper_n",
        "bw", "res", "nr", "nk", "night", "night_on", "night_step", "leak_by",
        "off_ok", "off_first", "off_n", "gw", "long_gaps",
        "sched", "hold",
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
        self.nu_small: list[float] = []  # usage.py: [first ts, litres] of small events while an episode is open
        self.away: list[list[float]] = []  # [start, until] notices not yet over
        self.away_floor = 0.0  # the latest end of an absence: a quiet span starts no earlier
        self.sp: list[float] = []
        self.sp_base: list[float] | None = None
        self.sp_gap: float | None = None  # end of the last gap: the spike's lower bound starts no earlier
        self.flow_since: float | None = None  # start of the current run of flow (continuous_flow)
        self.flow_total = 0.0
        self.zero_since: float | None = None  # start of the current zero-volume stretch
        self.tap_start: float | None = None  # start of the current run of high-flow intervals
        self.tap_total = 0.0
        self.tap_n = 0
        self.tap_ok = False  # every reading of the run had flow_lpm at or above tap_open_lpm
        self.tamper_last: float | None = None
        self.tamper_n = 0
        self.bw: list[float] = []  # signs.py: [ts, rate L/s, ...] of the last intervals (the base flow window)
        self.res: float | None = None  # signs.py: the register's resolution, litres
        self.nr: list[float] = []  # night.py: [ts, total, ...] of tonight's window so far
        self.nk: float | None = None  # night.py: the start of the night nr belongs to
        self.night: list[float] = []  # night.py: [night start, min L/h, typical step L, ...] of the last nights
        self.night_on = False  # night.py: a night-flow leak is suspected
        self.night_step = 0.0  # night.py: the suspected leak's typical step, litres
        self.leak_by: list[str] = []  # which leak analyses hold the continuous_flow episode open
        self.off_ok: float | None = None  # device.py: first reading after an outage (recovering since)
        self.off_first: float | None = None  # device.py: the first reading ever (cadence learning)
        self.off_n: list[float] = []  # device.py: [outages, when counted] of the recent past (a fading count)
        self.long_gaps: list[float] = []  # intervals.learn_recurring: the two longest silences, fading
        self.gw = False  # device.py: this meter's silence is part of a gateway_offline episode
        self.hold: float | None = None  # in memory only: an offline warning waits for the building (gateway.py)
        self.sched: float | None = None  # in memory only: the offline heap's key for this meter

    def start(self, ts: float, total: float, flow: float | None) -> None:
        """First reading, or a rebase after a register reset or jump."""
        self.last_ts, self.last_total, self.last_flow = ts, total, flow
        self.nu = [ts, total]
        self.sp = [ts, total]
        self.sp_base = None
        self.sp_gap = None
        self.flow_since = self.zero_since = self.tap_start = None

    def to_dict(self, episodes: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "ts": self.last_ts, "tot": self.last_total, "flow": self.last_flow, "iv": self.recent,
            "gap": self.usual_gap, "uq": [self.usual_quiet, self.quiet_seen],
            "nu": self.nu, "nus": self.nu_small, "aw": self.away, "awf": self.away_floor,
            "sp": self.sp, "spb": self.sp_base, "spg": self.sp_gap,
            "fs": self.flow_since, "ft": self.flow_total, "zs": self.zero_since,
            "tap": [self.tap_start, self.tap_total, self.tap_n, self.tap_ok],
            "tm": [self.tamper_last, self.tamper_n],
            "bw": self.bw, "res": self.res,
            "ng": [self.night, self.night_on, self.night_step, self.nr, self.nk], "lk": self.leak_by,
            "off": [self.off_ok, self.off_first, self.gw, self.off_n], "lg": self.long_gaps,
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
        st.nu_small = _pairs(data.get("nus", []))  # absent in states written before the clear hysteresis
        st.away = [[float(s), float(u)] for s, u in data["aw"]]
        st.away_floor = float(data["awf"])
        st.sp = _pairs(data["sp"])
        st.sp_base = [float(x) for x in data["spb"]] if data["spb"] is not None else None
        st.sp_gap = _opt(data.get("spg"))
        st.flow_since, st.flow_total, st.zero_since = _opt(data["fs"]), float(data["ft"]), _opt(data["zs"])
        tap_start, tap_total, tap_n, tap_ok = data["tap"]
        st.tap_start, st.tap_total, st.tap_n, st.tap_ok = _opt(tap_start), float(tap_total), int(tap_n), bool(tap_ok)
        st.tamper_last, st.tamper_n = _opt(data["tm"][0]), int(data["tm"][1])
        # Absent in states written before signs of life, night flow and offline hysteresis existed.
        st.bw = [float(x) for x in data.get("bw", [])]
        st.res = _opt(data.get("res"))
        night, night_on, night_step, nr, nk = data.get("ng", [[], False, 0.0, [], None])
        st.night, st.night_on, st.night_step = [float(x) for x in night], bool(night_on), float(night_step)
        st.nr, st.nk = _pairs(nr), _opt(nk)
        st.leak_by = [str(x) for x in data.get("lk", [])]
        off = data.get("off", [None, None, False])
        off_ok, off_first, gw = off[:3]
        st.off_ok, st.off_first, st.gw = _opt(off_ok), _opt(off_first), bool(gw)
        st.off_n = [float(x) for x in off[3]] if len(off) > 3 else []  # absent before flap damping
        st.long_gaps = [float(x) for x in data.get("lg", [])]
        if st.last_ts is not None and (not st.nu or not st.sp):
            raise ValueError("a meter with readings needs its histories")
        return st


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _pairs(values: list[Any]) -> list[float]:
    if len(values) % 2:
        raise ValueError("a history is a flat list of (ts, total) pairs")
    return [float(x) for x in values]
