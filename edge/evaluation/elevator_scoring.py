"""Episode scores of the e-bike pipeline from per-ride results: recall, false alerts per camera-hour, time to alert."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NEGATIVE_KINDS = ("crop", "inpaint", "scene")  # scene: a scene of a --negatives folder


@dataclass
class RideResult:
    kind: str  # positive | crop | inpaint | unknown
    source: str
    elevator_id: str
    duration_s: float
    frames: int
    first_ebike_s: float | None  # since the ride started
    raises: list[float] = field(default_factory=list)  # seconds since the ride started
    holds: int = 0  # hold_door commands sent (a raise holds the door; so would a re-hold)
    suppressed: int = 0  # e-bike boxes the empty-car reference dropped
    group: str | None = None  # a folder scene's kind
    detector: Counter = field(default_factory=Counter)  # tp/fp/fn/tn of frames: an e-bike box >= the rule's score
    rule: Counter = field(default_factory=Counter)  # tp/fp/fn/tn of frames: a track confirmed by the rule

    def count(self, which: Counter, predicted: bool, truth: bool | None) -> None:
        if truth is not None:
            which[("t" if predicted == truth else "f") + ("p" if predicted else "n")] += 1


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def _confusion(counts: Counter) -> dict[str, Any]:
    tp, fp, fn, tn = (counts.get(k, 0) for k in ("tp", "fp", "fn", "tn"))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None}


def _scenes(results: list[RideResult]) -> dict[str, Any]:
    """Per scene of the folders (--negatives, --positives): what happened to each, and totals per kind."""
    out: dict[str, Any] = {"rows": [], "kinds": {}}
    for r in (r for r in results if r.group is not None):
        kind = r.group
        row = {"scene": r.source, "kind": kind, "ebike": r.kind == "positive", "alerts": len(r.raises),
               "holds": r.holds, "first_alert_s": round(r.raises[0], 2) if r.raises else None}
        out["rows"].append(row)
        k = out["kinds"].setdefault(f"{'with' if row['ebike'] else 'without'} e-bike: {kind}",
                                    {"scenes": 0, "with_alert": 0, "holds": 0})
        k["scenes"] += 1
        k["with_alert"] += int(bool(r.raises))
        k["holds"] += r.holds
    return out


def summarise(results: list[RideResult]) -> dict[str, Any]:
    positives = [r for r in results if r.kind == "positive"]
    caught = [r for r in positives if r.raises]
    delays = [max(0.0, r.raises[0] - (r.first_ebike_s or 0.0)) for r in caught]
    early = sum(1 for r in caught if r.raises[0] < (r.first_ebike_s or 0.0))
    negatives: dict[str, Any] = {}
    total_hours = 0.0
    for kind in NEGATIVE_KINDS:
        rides = [r for r in results if r.kind == kind]
        hours = sum(r.duration_s for r in rides) / 3600
        total_hours += hours
        raised = sum(len(r.raises) for r in rides)
        holds = sum(r.holds for r in rides)
        negatives[kind] = {"rides": len(rides), "hours": round(hours, 3), "false_alerts": raised,
                           "false_holds": holds, "rides_with_alert": sum(1 for r in rides if r.raises),
                           "per_camera_hour": round(raised / hours, 2) if hours else None,
                           "holds_per_camera_hour": round(holds / hours, 2) if hours else None}
    total_raised = sum(n["false_alerts"] for n in negatives.values())
    total_holds = sum(n["false_holds"] for n in negatives.values())
    per_original: dict[str, dict[str, int]] = defaultdict(Counter)
    for r in results:
        key = r.kind if r.kind != "positive" else ("caught" if r.raises else "missed")
        per_original[r.source][key] += 1
        if r.kind in NEGATIVE_KINDS:
            per_original[r.source][f"{r.kind}_false_alerts"] += len(r.raises)
    detector, rule = Counter(), Counter()
    for r in results:
        detector.update(r.detector)
        rule.update(r.rule)
    return {
        "positive": {"rides": len(positives), "caught": len(caught),
                     "recall": round(len(caught) / len(positives), 3) if positives else None,
                     "raised_before_bike": early},
        "time_to_alert_s": {"p50": _percentile(delays, 50), "p90": _percentile(delays, 90),
                            "max": round(max(delays), 2) if delays else None},
        "negative": {**negatives, "total": {
            "hours": round(total_hours, 3), "false_alerts": total_raised, "false_holds": total_holds,
            "per_camera_hour": round(total_raised / total_hours, 2) if total_hours else None,
            "holds_per_camera_hour": round(total_holds / total_hours, 2) if total_hours else None}},
        "scenes": _scenes(results),
        "empty_car_drops": sum(r.suppressed for r in results),
        "unknown": {"rides": sum(1 for r in results if r.kind == "unknown"),
                    "raises": sum(len(r.raises) for r in results if r.kind == "unknown")},
        "frames": {"scored": sum(r.frames for r in results), "detector": _confusion(detector),
                   "rule": _confusion(rule)},
        "per_original": {k: dict(v) for k, v in sorted(per_original.items())},
    }
