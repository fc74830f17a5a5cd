"""Real end-use samples that ground the household routines (../shared/data/README.md).

Showers come from the DAIAD amphiro trials (volume L, flow L/min, duration s); tap uses from
the CIWS classified end-use events (US gallons and gpm, converted here). When the shared
data is absent the routines fall back to parametric draws with the same ranges.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

GALLON_L = 3.785411784
SHARED_DIR = Path(__file__).resolve().parents[3] / "shared"
DATA_DIR = SHARED_DIR / "data" / "water"


@dataclass(frozen=True)
class UseSamples:
    """Rows of (volume L, flow L/min); draws pick whole rows so volume and flow stay paired."""

    volume_l: np.ndarray
    flow_lpm: np.ndarray

    def __len__(self) -> int:
        return len(self.volume_l)

    def draw(self, rng: np.random.Generator) -> tuple[float, float]:
        i = int(rng.integers(len(self.volume_l)))
        return float(self.volume_l[i]), float(self.flow_lpm[i])


def _filtered(rows: list[tuple[float, float, float]], flow: tuple[float, float], minutes: tuple[float, float],
              volume: tuple[float, float]) -> UseSamples | None:
    # The simulator plays a use at its mean flow, so its length is volume / flow (the recorded
    # duration of a shower also counts pauses).
    kept = [
        (v, f) for v, f, _ in rows
        if flow[0] <= f <= flow[1] and minutes[0] <= v / f <= minutes[1] and volume[0] <= v <= volume[1]
    ]
    if not kept:
        return None
    arr = np.array(kept, dtype=float)
    return UseSamples(arr[:, 0], arr[:, 1])


@lru_cache(maxsize=1)
def _amphiro_rows() -> tuple[tuple[float, float, float], ...]:
    rows: list[tuple[float, float, float]] = []
    for name in ("amphiro_trialA.csv", "amphiro_trialB.csv"):
        path = DATA_DIR / "daiad" / name
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh, delimiter=";")
            header = next(reader)
            iv, iflow, idur = header.index("volume"), header.index("flow"), header.index("duration")
            for row in reader:
                try:
                    rows.append((float(row[iv]), float(row[iflow]), float(row[idur]) / 60.0))
                except (ValueError, IndexError):
                    continue
    return tuple(rows)


@lru_cache(maxsize=1)
def _ciws_rows(label: str) -> tuple[tuple[float, float, float], ...]:
    path = DATA_DIR / "ciws" / "Classified_Events.csv"
    if not path.is_file():
        return ()
    rows: list[tuple[float, float, float]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("Label") != label:
                continue
            try:
                rows.append((float(row["Volume(gal)"]) * GALLON_L, float(row["Flowrate(gpm)"]) * GALLON_L,
                             float(row["Duration(min)"])))
            except (KeyError, ValueError):
                continue
    return tuple(rows)


@lru_cache(maxsize=4)
def showers(profile: str) -> UseSamples | None:
    """Showers from the amphiro trials: elderly 5-15 min at 6-10 L/min, others 3-20 min at 4-12 L/min."""
    if profile == "elderly_alone":
        return _filtered(list(_amphiro_rows()), (6.0, 10.0), (5.0, 15.0), (25.0, 150.0))
    return _filtered(list(_amphiro_rows()), (4.0, 12.0), (3.0, 20.0), (12.0, 100.0))


@lru_cache(maxsize=1)
def taps() -> UseSamples | None:
    """Faucet uses of 0.5-3 L from CIWS (a washbasin or a glass, not a sink filled for dishes)."""
    return _filtered(list(_ciws_rows("faucet")), (1.5, 8.0), (0.0, 5.0), (0.5, 3.0))
