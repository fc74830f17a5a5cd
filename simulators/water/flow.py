"""Water uses as intervals of constant flow, and what a meter reads from them.

A use is (start epoch s, duration s, flow L/min). Uses may overlap: flows add. The register
is the integral of the summed flow, computed exactly from the breakpoints (starts and ends),
so a reading at any instant costs a binary search, not a simulation step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Uses:
    start: np.ndarray  # epoch seconds
    duration: np.ndarray  # seconds
    flow_lpm: np.ndarray

    @classmethod
    def empty(cls) -> Uses:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))

    @classmethod
    def of(cls, rows: list[tuple[float, float, float]]) -> Uses:
        if not rows:
            return cls.empty()
        arr = np.asarray(rows, dtype=float)
        order = np.argsort(arr[:, 0], kind="stable")
        return cls(arr[order, 0], arr[order, 1], arr[order, 2])

    def __len__(self) -> int:
        return len(self.start)

    @property
    def end(self) -> np.ndarray:
        return self.start + self.duration

    @property
    def volume_l(self) -> np.ndarray:
        return self.flow_lpm * self.duration / 60.0

    def plus(self, other: Uses) -> Uses:
        start = np.concatenate([self.start, other.start])
        order = np.argsort(start, kind="stable")
        return Uses(start[order], np.concatenate([self.duration, other.duration])[order],
                    np.concatenate([self.flow_lpm, other.flow_lpm])[order])

    def without(self, begin: float, until: float) -> Uses:
        """Drop uses that start in [begin, until) and cut those running into it at `begin`."""
        keep = (self.start < begin) | (self.start >= until)
        duration = self.duration.copy()
        running = (self.start < begin) & (self.end > begin)
        duration[running] = begin - self.start[running]
        return Uses(self.start[keep], duration[keep], self.flow_lpm[keep])

    def last_end_before(self, moment: float) -> float | None:
        ends = self.end[self.start < moment]
        return float(min(ends.max(), moment)) if len(ends) else None

    def first_start_at_or_after(self, moment: float) -> float | None:
        starts = self.start[self.start >= moment]
        return float(starts.min()) if len(starts) else None


def read(uses: Uses, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(litres used since the first use, instantaneous flow L/min) at each of `times` (ascending)."""
    times = np.asarray(times, dtype=float)
    if len(uses) == 0:
        return np.zeros(len(times)), np.zeros(len(times))
    rate = uses.flow_lpm / 60.0  # litres per second
    points = np.concatenate([uses.start, uses.end])
    steps = np.concatenate([rate, -rate])
    order = np.argsort(points, kind="stable")
    points, steps = points[order], steps[order]
    slope = np.cumsum(steps)  # litres per second just after each breakpoint
    litres = np.concatenate([[0.0], np.cumsum(slope[:-1] * np.diff(points))])
    idx = np.searchsorted(points, times, side="right") - 1
    before = idx < 0
    idx = np.clip(idx, 0, None)
    volume = litres[idx] + slope[idx] * (times - points[idx])
    flow = slope[idx] * 60.0
    volume[before] = 0.0
    flow[before] = 0.0
    # Cancelling float steps leave dust such as -1e-16 L/min where nothing runs.
    flow[np.abs(flow) < 1e-9] = 0.0
    return np.maximum.accumulate(volume), np.maximum(flow, 0.0)
