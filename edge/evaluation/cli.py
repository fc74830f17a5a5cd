"""`gridwatch eval water`: precision, recall and delay on a simulated scenario with ground
truth; false alerts per household per month on the DAIAD replay."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from edge.errors import CommandError
from edge.evaluation import water_scenario, water_tune
from edge.evaluation.daiad import judge, per_household_month
from edge.evaluation.replay import episodes, replay
from ingest.wire.timestamps import parse_ts
from rules.water.thresholds import resolve
from simulators.water.daiad import DEFAULT_PATH, iter_daiad
from simulators.water.scenario import ScenarioSpec, generate

WATER_TYPES = water_scenario.WATER_TYPES
# The published fixed rules on the same data (../shared/data/README.md), per household-month.
DAIAD_UTC_OFFSET_H = 1.0  # Alicante in winter (the night window is 4 h wide: summer time shifts it by one)
PUBLISHED = {"water.no_usage": "2.9 (>=12 h), 1.0 (>=24 h)", "water.continuous_flow": "0.23 (>=24 h), 0.07 (>=48 h)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--meters", type=int, default=200, help="simulated households (default 200)")
    parser.add_argument("--days", type=float, default=14.0, help="simulated days (default 14)")
    parser.add_argument("--interval", type=float, choices=[15.0, 60.0], default=15.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2026-01-05T00:00:00Z",
                        help="first simulated instant (fixed, so that anyone gets the same figures)")
    parser.add_argument("--daiad", type=Path, default=None, help="swm_trialA.csv (default: ../shared)")
    parser.add_argument("--no-daiad", action="store_true", help="skip the DAIAD replay")
    parser.add_argument("--households", type=int, default=None, help="only the first N DAIAD households")
    parser.add_argument("--daiad-half", choices=["val", "test"], default=None,
                        help="only one half of the DAIAD meters (sha256 of the meter id even: val, odd: test), the "
                             "split the DAIAD-tuned water settings were chosen on (val)")
    parser.add_argument("--mix", default="classic,frugal,mixed",
                        help="simulated scenarios, comma separated: classic, frugal, mixed (default: all three)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the previous rules (litres, 24-h flow only) on the same readings")
    parser.add_argument("--tune", action="store_true",
                        help="choose the night-flow and use-event thresholds on a validation split of households "
                             "(scenarios of seed + 1000), then score the test split (--seed) with them")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def _fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


def _spec(args: argparse.Namespace, mix: str, seed: int | None = None, meters: int | None = None) -> ScenarioSpec:
    return ScenarioSpec(meters=meters or args.meters, days=args.days, interval_min=args.interval,
                        seed=args.seed if seed is None else seed, start=parse_ts(args.start), faults=False, mix=mix)


def scenario_scores(args: argparse.Namespace, mix: str = "classic", overrides: dict | None = None) -> dict:
    spec = _spec(args, mix)
    started = time.perf_counter()
    scenario = generate(spec)
    result = water_scenario.report(scenario, overrides, compare=not args.no_compare)
    return {
        "scenario": {"mix": mix, "meters": spec.meters, "days": spec.days, "interval_min": spec.interval_min,
                     "seed": spec.seed, "readings": len(scenario.clean), "events": len(scenario.truth),
                     "seconds": round(time.perf_counter() - started, 2)},
        **result["now"],
        "previous": result.get("previous"),
        "overrides": overrides or {},
    }


def daiad_scores(args: argparse.Namespace) -> dict:
    path = args.daiad or DEFAULT_PATH
    started = time.perf_counter()
    readings = sorted(iter_daiad(path, households=args.households), key=lambda r: r.ts)
    thresholds = resolve("elderly_alone", {"local_utc_offset_h": DAIAD_UTC_OFFSET_H})
    changes = replay(readings, lambda _m: thresholds)
    if args.daiad_half:  # the whole trial replayed (its clock moves with every meter), then one half judged
        readings = [r for r in readings if daiad_half(r.meter_id) == args.daiad_half]
        changes = [c for c in changes if daiad_half(c.subject) == args.daiad_half]
    found = episodes(changes)
    verdicts = judge(found, readings)
    alerts = per_household_month(verdicts.alerts, verdicts.household_months)
    false = per_household_month(verdicts.false_alerts, verdicts.household_months)
    return {
        "daiad": {"path": str(path), "households": verdicts.households, "readings": verdicts.readings,
                  "household_months": round(verdicts.household_months, 1),
                  "seconds": round(time.perf_counter() - started, 2)},
        "types": {t: {"alerts": verdicts.alerts[t], "per_household_month": alerts[t],
                      "false_per_household_month": false[t]} for t in WATER_TYPES},
        "absences": verdicts.absences,
        "alert_changes": len(changes),
        "changes_by_type": change_counts(changes),
        "changes_per_meter_month": round(len(changes) / verdicts.household_months, 2)
        if verdicts.household_months else None,
        "false_per_household_month_total": sum(false.values()),
    }


def daiad_half(meter_id: str) -> str:
    """The meter's half of the DAIAD trial: "val" (sha256 of its id even) or "test"."""
    return "val" if int(hashlib.sha256(meter_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def change_counts(changes: list) -> dict[str, dict[str, int]]:
    """Alert changes per type and kind (raised, updated, cleared), to see where a worker's feed comes from."""
    counts: dict[str, dict[str, int]] = {}
    for change in changes:
        kind = "cleared" if change.state == "cleared" else "raised" if change.revision == 1 else "updated"
        row = counts.setdefault(change.type, {"raised": 0, "updated": 0, "cleared": 0})
        row[kind] += 1
    return dict(sorted(counts.items(), key=lambda kv: -sum(kv[1].values())))


def main(args: argparse.Namespace) -> int:
    daiad = args.daiad or DEFAULT_PATH
    if not args.no_daiad and not Path(daiad).is_file():  # before the scenario's minute of work
        raise CommandError(f"no DAIAD file at {daiad} (--daiad PATH names swm_trialA.csv; --no-daiad skips it)")
    mixes = [m.strip() for m in args.mix.split(",") if m.strip()]
    report: dict = {}
    overrides: dict | None = None
    if args.tune:
        report["tuning"] = water_tune.tune(lambda mix, seed: generate(_spec(args, mix, seed)), mixes, args.seed + 1000)
        overrides = report["tuning"]["chosen"]
    report["scenarios"] = [scenario_scores(args, mix, overrides) for mix in mixes]
    if not args.no_daiad:
        report["daiad"] = daiad_scores(args)
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
        return 0
    if "tuning" in report:
        print(water_tune.describe(report["tuning"]))
    for sc in report["scenarios"]:
        print("\n".join(_scenario_lines(sc)) + "\n")
    if "daiad" in report:
        print("\n".join(_daiad_lines(report["daiad"])))
    return 0


def _scenario_lines(sc: dict) -> list[str]:
    meta = sc["scenario"]
    prev = sc.get("previous")
    lines = [f"Simulated scenario {meta['mix']}: {meta['meters']} homes x {meta['days']:g} days, "
             f"{meta['interval_min']:g}-min readings, seed {meta['seed']}, {meta['events']} labelled events, "
             f"{meta['readings']} readings, replayed in arrival order"
             + (f"; thresholds {sc['overrides']}" if sc["overrides"] else "")]
    lines.append(f"{'alert type':<24}{'events':>7}{'found':>7}{'recall':>8}{'alerts':>8}{'false':>7}"
                 f"{'precision':>10}{'delay p50 h':>12}{'p90 h':>8}"
                 + ("   | previous rules: found false" if prev else ""))
    for t, s in sc["types"].items():
        row = (f"{t:<24}{s['expected']:>7}{s['detected']:>7}{_fmt(s['recall']):>8}{s['alerts']:>8}{s['false']:>7}"
               f"{_fmt(s['precision']):>10}{_fmt(s['delay_h_p50'], '{:.1f}'):>12}{_fmt(s['delay_h_p90'], '{:.1f}'):>8}")
        if prev:
            p = prev["types"].get(t, {})
            row += f"   | {p.get('detected', 0):>21}{p.get('false', 0):>6}"
        lines.append(row)
    lines.append("delay: from the labelled start of the event to the alert (a 12-h no-usage rule cannot beat 12 h).")
    lines.append(f"{'household kind':<16}{'homes':>6}{'hh-months':>10}{'false/hh-month':>15}{'no_usage':>9}"
                 + ("   | previous: false/hh-month  no_usage" if prev else ""))
    for kind, k in sc["kinds"].items():
        row = (f"{kind:<16}{k['homes']:>6}{k['household_months']:>10}{k['false_per_hh_month']:>15.2f}"
               f"{k['false_no_usage_per_hh_month']:>9.2f}")
        if prev:
            p = prev["kinds"][kind]
            row += f"   | {p['false_per_hh_month']:>24.2f}{p['false_no_usage_per_hh_month']:>10.2f}"
        lines.append(row)
    lines.append(f"spike or tap_open within an hour after a gap: {sc['spike_or_tap_after_gap']}"
                 + (f" (previous rules: {prev['spike_or_tap_after_gap']})" if prev else ""))
    return lines


def _daiad_lines(d: dict) -> list[str]:
    meta = d["daiad"]
    lines = [f"DAIAD trial replay: {meta['households']} homes, {meta['readings']} readings, "
             f"{meta['household_months']} household-months (elderly_alone thresholds on every home)",
             f"{'alert type':<24}{'alerts':>8}{'per hh-month':>14}{'false per hh-month':>20}   published fixed rule"]
    for t, s in d["types"].items():
        lines.append(f"{t:<24}{s['alerts']:>8}{s['per_household_month']:>14.2f}"
                     f"{s['false_per_household_month']:>20.2f}   {PUBLISHED.get(t, '')}")
    lines.append(f"false alerts per household per month, all types: {d['false_per_household_month_total']:.2f} "
                 f"(no-usage spans >= 24 h judged absences: {d['absences']}; offline and tamper alerts are the "
                 "trial's real faults; flow, tap and spike alerts all counted false, an upper bound)")
    lines.append(f"alert changes (raised, updated, cleared): {d['alert_changes']}, "
                 f"{d['changes_per_meter_month']} per meter-month")
    by_type = d["changes_by_type"].items()
    lines.append("  by type (raised/updated/cleared): " + "; ".join(
        f"{t.removeprefix('water.')} {c['raised']}/{c['updated']}/{c['cleared']}" for t, c in by_type))
    return lines
