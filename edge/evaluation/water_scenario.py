"""Scores of the water rules on a simulated scenario: per type, and false alerts per household kind.

The readings are replayed in the order they arrive (a meter that uploads four readings once an
hour sends them late, as over MQTT), with the away notices. Each scenario is scored twice on the
same readings: the rules as they are, and the previous rules (no_usage by litres, leaks from the
24/48-h rule only, no upload-cadence learning, no offline hysteresis), side by side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from edge.evaluation.replay import Episode, episodes, replay
from edge.evaluation.scoring import judge, score
from rules.water.thresholds import WaterThresholds, resolve
from simulators.water.scenario import Scenario

DAYS_PER_MONTH = 30.44
WATER_TYPES = [
    "water.no_usage", "water.continuous_flow", "water.tap_open",
    "water.spike", "water.meter_offline", "water.meter_tamper", "water.gateway_offline",
]
# The rules before signs of life, night flow and offline episodes (the plain published rules).
PREVIOUS: dict[str, Any] = {"no_usage_signs": "litres", "night_flow_enabled": False,
                            "offline_learn_h": 0, "offline_clear_h": 0}


def thresholds_of(scenario: Scenario, overrides: dict[str, Any]) -> Callable[[str], WaterThresholds]:
    """Per meter: its profile, its reporting interval, then `overrides` (as the registry would)."""
    cache = {m.id: resolve(m.profile, {"reporting_interval_min": m.interval_min, **overrides})
             for m in scenario.meters}
    fallback = resolve("elderly_alone", overrides)
    return lambda meter_id: cache.get(meter_id, fallback)


def run(scenario: Scenario, overrides: dict[str, Any], readings: list | None = None) -> list[Episode]:
    readings = scenario.arrivals() if readings is None else readings
    return episodes(replay(readings, thresholds_of(scenario, overrides), scenario.away_notices()))


def by_kind(found: list[Episode], scenario: Scenario) -> dict[str, dict[str, float]]:
    """Per household kind: homes, household-months, false alerts (all types, and no_usage) per household-month."""
    kind_of = {m.id: m.household_kind for m in scenario.meters}
    events: dict[str, list] = {}
    for event in scenario.truth:
        events.setdefault(event.meter, []).append(event)
    homes = Counter(kind_of.values())
    false, false_nu = Counter(), Counter()
    for episode in found:
        kind = kind_of.get(episode.subject)
        if kind is None:
            continue  # a building's gateway episode: not a household's
        verdict, _ = judge(episode, events.get(episode.subject, []))
        if verdict == "false":
            false[kind] += 1
            false_nu[kind] += episode.type == "water.no_usage"
    months = scenario.spec.days / DAYS_PER_MONTH
    return {kind: {"homes": n, "household_months": round(n * months, 1),
                   "false": false[kind], "false_per_hh_month": round(false[kind] / (n * months), 2),
                   "false_no_usage_per_hh_month": round(false_nu[kind] / (n * months), 2)}
            for kind, n in sorted(homes.items())}


def report(scenario: Scenario, overrides: dict[str, Any] | None = None, compare: bool = True) -> dict[str, Any]:
    readings = scenario.arrivals()
    out: dict[str, Any] = {}
    for name, layer in (("now", overrides or {}), ("previous", PREVIOUS)) if compare else (("now", overrides or {}),):
        found = run(scenario, layer, readings)
        results = score(found, scenario.truth, WATER_TYPES)
        out[name] = {
            "types": {t: {"expected": s.expected, "detected": s.detected, "alerts": s.alerts,
                          "false": s.false_alerts, "tolerated": s.tolerated, "precision": s.precision,
                          "recall": s.recall, "delay_h_p50": s.delay(0.5), "delay_h_p90": s.delay(0.9)}
                      for t, s in results.items()},
            "kinds": by_kind(found, scenario),
            "spike_or_tap_after_gap": after_gap(found, readings),
        }
    return out


def after_gap(found: list[Episode], readings: list, within_s: float = 3600.0) -> int:
    """Spike and tap_open episodes raised within an hour after a gap (an interval over 75 min) of their meter."""
    gap_ends: dict[str, list[float]] = {}
    last: dict[str, float] = {}
    for reading in sorted(readings, key=lambda r: (r.meter_id, r.ts)):
        ts = reading.ts.timestamp()
        prev = last.get(reading.meter_id)
        if prev is not None and ts - prev > 75 * 60 * 1.01:
            gap_ends.setdefault(reading.meter_id, []).append(ts)
        last[reading.meter_id] = ts
    hits = 0
    for episode in found:
        if episode.type in ("water.spike", "water.tap_open"):
            raised = episode.raised_at.timestamp()
            hits += any(0 <= raised - end <= within_s for end in gap_ends.get(episode.subject, []))
    return hits
