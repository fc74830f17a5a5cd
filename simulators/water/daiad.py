"""Replay of the DAIAD smart water meter trial (Alicante, 2016-2017; CC-BY-SA 4.0).

`swm_trialA.csv` is `user key;datetime;meter reading;diff`: day-first local times
(Europe/Madrid), the register in litres, about hourly, household after household. The real
faults stay in: duplicate timestamps, a register that goes down, jumps, gaps of months, and
values the export rounded to `4e+05`. They are what a worker must survive.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ingest.topics import Topics
from ingest.wire.water import Reading
from simulators.water.data import DATA_DIR
from simulators.water.payloads import encode_readings
from simulators.water.publish import MqttPublisher, Outgoing, Pacer, PaceStats, Publisher, publish_paced

DEFAULT_PATH = DATA_DIR / "daiad" / "swm_trialA.csv"
MADRID = ZoneInfo("Europe/Madrid")
_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


class DaiadFormatError(ValueError):
    """A row that is not `key;dd/mm/yyyy HH:MM:SS;litres;diff`, with its line number."""


def meter_id(user_key: str) -> str:
    return f"daiad-{user_key[:8]}"  # the first 8 hex digits are unique among the 92 homes


class _LocalClock:
    """Local `dd/mm/yyyy HH:MM:SS` to epoch seconds, with the UTC offset cached per local hour."""

    def __init__(self) -> None:
        self._days: dict[str, tuple[float, int, int, int]] = {}
        self._offsets: dict[tuple[str, int], float] = {}

    def epoch(self, text: str) -> float:
        day_text = text[:10]
        day = self._days.get(day_text)
        if day is None:
            d, m, y = int(text[0:2]), int(text[3:5]), int(text[6:10])
            day = ((datetime(y, m, d).toordinal() - _EPOCH_ORDINAL) * 86400.0, y, m, d)
            self._days[day_text] = day
        hour = int(text[11:13])
        offset = self._offsets.get((day_text, hour))
        if offset is None:
            # fold=0: in the autumn's repeated hour the first (summer time) reading wins.
            local = datetime(day[1], day[2], day[3], hour, tzinfo=MADRID)
            offset = local.utcoffset().total_seconds()  # type: ignore[union-attr]
            self._offsets[(day_text, hour)] = offset
        return day[0] + hour * 3600 + int(text[14:16]) * 60 + int(text[17:19]) - offset


def _rows(path: Path, households: int | None) -> Iterator[tuple[str, float, float]]:
    """(user key, epoch s UTC, register L) in file order."""
    clock = _LocalClock()
    seen: list[str] = []
    last_key = None
    with path.open(encoding="utf-8", newline="") as fh:
        header = fh.readline()
        if header.count(";") < 2:
            raise DaiadFormatError(f"{path}:1: expected a `;` separated header, got {header[:60]!r}")
        for line_no, line in enumerate(fh, start=2):
            parts = line.rstrip("\r\n").split(";")
            if len(parts) < 3:
                if not line.strip():
                    continue
                raise DaiadFormatError(f"{path}:{line_no}: expected 4 fields, got {line[:80]!r}")
            key = parts[0]
            if key != last_key:
                last_key = key
                if key not in seen:
                    if households is not None and len(seen) >= households:
                        return  # the file is grouped by household: the rest is other homes
                    seen.append(key)
            try:
                yield key, clock.epoch(parts[1]), float(parts[2])
            except ValueError as exc:
                raise DaiadFormatError(f"{path}:{line_no}: {exc}: {line[:80]!r}") from exc


def iter_daiad(path: Path | str = DEFAULT_PATH, households: int | None = None, start: datetime | None = None,
               end: datetime | None = None) -> Iterator[Reading]:
    """Readings household by household, in file order, faults and all; [start, end) in UTC."""
    lo = start.timestamp() if start else -np.inf
    hi = end.timestamp() if end else np.inf
    ids: dict[str, str] = {}
    for key, epoch, litres in _rows(Path(path), households):
        if lo <= epoch < hi:
            meter = ids.get(key) or ids.setdefault(key, meter_id(key))
            yield Reading(meter, datetime.fromtimestamp(epoch, tz=UTC), litres)


@dataclass(frozen=True)
class DaiadSeries:
    meter_id: str
    user_key: str
    ts: np.ndarray  # epoch seconds UTC, file order (not always increasing)
    total_l: np.ndarray

    def facts(self) -> dict[str, int]:
        steps = np.diff(self.total_l)
        return {
            "rows": len(self.ts),
            "duplicate_ts": len(self.ts) - len(np.unique(self.ts)),
            "negative_steps": int(np.sum(steps < 0)),
            "gaps_over_75_min": int(np.sum(np.diff(self.ts) > 75 * 60)),
        }


def load_daiad(path: Path | str = DEFAULT_PATH, households: int | None = None, start: datetime | None = None,
               end: datetime | None = None) -> dict[str, DaiadSeries]:
    """Per-meter arrays (file order), for evaluations that run the rules in-process."""
    lo = start.timestamp() if start else -np.inf
    hi = end.timestamp() if end else np.inf
    columns: dict[str, tuple[list[float], list[float]]] = {}
    for key, epoch, litres in _rows(Path(path), households):
        if lo <= epoch < hi:
            ts, total = columns.setdefault(key, ([], []))
            ts.append(epoch)
            total.append(litres)
    return {meter_id(k): DaiadSeries(meter_id(k), k, np.array(t), np.array(v)) for k, (t, v) in columns.items()}


def merged(readings_by_meter: dict[str, DaiadSeries]) -> Iterator[Reading]:
    """All homes interleaved by timestamp, each home's rows still in file order (as meters send)."""
    def stream(series: DaiadSeries) -> Iterator[Reading]:
        for epoch, litres in zip(series.ts.tolist(), series.total_l.tolist(), strict=True):
            yield Reading(series.meter_id, datetime.fromtimestamp(epoch, tz=UTC), litres)

    return heapq.merge(*(stream(s) for s in readings_by_meter.values()), key=lambda r: r.ts)


def publish_daiad(mqtt_url: str, path: Path | str = DEFAULT_PATH, households: int | None = None,
                  start: datetime | None = None, end: datetime | None = None, speed: float | None = None,
                  topic_prefix: str = "grid", *, publisher: Publisher | None = None,
                  connect_timeout: float = 10.0) -> dict[str, Any]:
    """Replay over MQTT with the original timestamps, homes interleaved in time, compressed by `speed`.

    Registers below zero (none in trial A) would be rejected by the contract; they are skipped
    and counted rather than sent.
    """
    series = load_daiad(path, households, start, end)
    topics = Topics(topic_prefix)
    counts = {"rows": sum(len(s.ts) for s in series.values()), "skipped": 0}

    def messages() -> Iterator[Outgoing]:
        for reading in merged(series):
            if reading.total_l < 0:
                counts["skipped"] += 1
                continue
            yield Outgoing(topics.water_reading(reading.meter_id), encode_readings([reading]), reading.ts)

    own = publisher is None
    pub = publisher or MqttPublisher(mqtt_url, "gridwatch-sim-daiad", connect_timeout)
    try:
        stats: PaceStats = publish_paced(messages(), pub, Pacer(speed))
        delivered = pub.flush(120.0)
        stats.wall_s = time.monotonic() - stats.started
    finally:
        if own:
            pub.close()
    return {**counts, "households": len(series), "published": stats.published, "wall_s": round(stats.wall_s, 2),
            "delivered": delivered}
