"""A fleet of simulated meters over a few days, with injected events, ground truth and faults.

`generate(spec)` is deterministic from `spec.seed` (and `spec.start`): meters, routines, events
and faults each draw from their own seed stream, so switching faults off leaves the readings
and the truth exactly as they were.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ingest.wire.water import AwayNotice, Reading
from simulators.water.events import ELDERLY_ONLY, PLACERS, PREFER_ELDERLY, MeterPlan
from simulators.water.faults import apply_faults
from simulators.water.flow import read
from simulators.water.households import make_household, routine
from simulators.water.model import EVENT_KINDS, HARD_EVENT_KINDS, ScenarioSpec, SimMessage, SimMeter, TruthEvent
from simulators.water.payloads import TS_FORM_WEIGHTS, TS_FORMS, encode_away, encode_readings

__all__ = ["Scenario", "ScenarioSpec", "SimMessage", "SimMeter", "TruthEvent", "generate"]

METERS_PER_BUILDING = 4
VISITORS_PER_DAY = 0.1  # mixed scenario: a visitor about one day in ten
# mixed scenario: household kinds and their shares (simulators.water.kinds)
MIXED_KINDS = (("elderly", 0.3), ("frugal", 0.25), ("late_sleeper", 0.15), ("night_shift", 0.1), ("standard", 0.2))
COARSE_SHARE = 0.15  # of the meters: 10-L pulse registers
BATCH_SHARE = 0.2  # of the 15-min meters: four readings uploaded once an hour
BUILDINGS_PER_GRID = 2


@dataclass
class Scenario:
    spec: ScenarioSpec
    meters: list[SimMeter]
    truth: list[TruthEvent]
    messages: list[SimMessage]  # in publish order, after transport faults
    start: datetime | None = None
    end: datetime | None = None
    clean: list[Reading] = field(default_factory=list, repr=False)  # on time, in event-time order
    backlog: list[Reading] = field(default_factory=list, repr=False)  # silent meters' late readings
    notices: list[AwayNotice] = field(default_factory=list, repr=False)
    persons: dict[str, int] = field(default_factory=dict, repr=False)  # household -> people

    def readings(self) -> Iterator[Reading]:
        """The fault-free readings as delivered on time, in event-time order.

        A silent meter's readings are missing here even when its backlog goes out later as a
        late batch over MQTT: in-process evaluation sees the silence the rules must judge.
        """
        return iter(self.clean)

    def arrivals(self) -> list[Reading]:
        """The fault-free readings in the order they arrive: a meter that uploads every k readings
        sends them together when the k-th is taken (the rules see its lag behind the fleet)."""
        upload = {m.id: m.upload_every for m in self.meters}
        by_meter: dict[str, list[Reading]] = {}
        for reading in self.clean:
            by_meter.setdefault(reading.meter_id, []).append(reading)
        timed = []
        for mid, readings in by_meter.items():
            k = max(upload.get(mid, 1), self.spec.batch)
            for i, reading in enumerate(readings):
                last = readings[min(len(readings) - 1, (i // k) * k + k - 1)]
                timed.append((last.ts, reading.ts, mid, reading))
        timed.sort(key=lambda row: row[:3])
        return [row[3] for row in timed]

    def away_notices(self) -> list[AwayNotice]:
        return list(self.notices)

    def summary(self) -> dict[str, Any]:
        faults = Counter((m.fault or "none").split(":")[0] for m in self.messages)
        return {
            "messages": len(self.messages),
            "readings": len(self.clean),
            "malformed": sum(m.malformed for m in self.messages),
            "faults": {k: v for k, v in sorted(faults.items()) if k != "none"},
            "events": dict(sorted(Counter(e.kind for e in self.truth).items())),
            "meters": len(self.meters),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }

    def registry(self) -> dict[str, Any]:
        """A registry (ARCHITECTURE.md) for these meters: a building per few meters, a grid per two buildings."""
        buildings, grids, workers, meters = [], [], [], []
        for i, meter in enumerate(self.meters):
            b = i // METERS_PER_BUILDING
            g = b // BUILDINGS_PER_GRID
            if b == len(buildings):
                buildings.append({"id": f"b-{b + 1:02d}", "name": f"Building {b + 1}", "grid": f"g-{g + 1:02d}"})
            if g == len(grids):
                workers.append({"id": f"w-{g + 1:02d}", "name": f"Grid worker {g + 1}"})
                grids.append({"id": f"g-{g + 1:02d}", "name": f"Grid {g + 1}", "workers": [f"w-{g + 1:02d}"],
                              "leader": f"w-{g + 1:02d}"})
            row: dict[str, Any] = {"id": meter.id, "building": f"b-{b + 1:02d}", "household": meter.household,
                                   "profile": meter.profile}
            if meter.interval_min != 60.0:  # the offline rule's default interval is an hour
                row["thresholds"] = {"reporting_interval_min": meter.interval_min}
            meters.append(row)
        return {"grids": grids, "workers": workers, "buildings": buildings, "meters": meters}

    def write(self, folder: Path) -> None:
        """truth.jsonl, meters.json, messages.json (a summary) and registry.yaml."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "truth.jsonl").write_text("".join(e.to_json() + "\n" for e in self.truth), encoding="utf-8")
        meters = [{"id": m.id, "profile": m.profile, "interval_min": m.interval_min, "household": m.household,
                   "persons": self.persons.get(m.household), "kind": m.household_kind, "coarse_l": m.coarse_l,
                   "upload_every": m.upload_every} for m in self.meters]
        (folder / "meters.json").write_text(json.dumps(meters, indent=1), encoding="utf-8")
        (folder / "messages.json").write_text(json.dumps(self.summary(), indent=1), encoding="utf-8")
        (folder / "registry.yaml").write_text(yaml.safe_dump(self.registry(), sort_keys=False), encoding="utf-8")


def default_start(spec: ScenarioSpec, now: datetime | None = None) -> datetime:
    """now - days, floored to the reporting interval (an hour when intervals are mixed)."""
    step = 3600.0 if spec.mixed_intervals else spec.interval_min * 60.0
    moment = (now or datetime.now(UTC)).timestamp() - spec.days * 86400.0
    return datetime.fromtimestamp(math.floor(moment / step) * step, tz=UTC)


def generate(spec: ScenarioSpec, *, total_days: float | None = None) -> Scenario:
    """The scenario of `spec`. `total_days` (> days) keeps the meters going after the events' window."""
    start = spec.start.astimezone(UTC) if spec.start else default_start(spec)
    t0 = start.timestamp()
    events_end = t0 + spec.days * 86400.0
    t_end = t0 + max(spec.days, total_days or 0.0) * 86400.0
    streams = np.random.SeedSequence(spec.seed).spawn(4)
    layout, events_rng, faults_rng = (np.random.default_rng(s) for s in streams[:3])
    meter_streams = streams[3].spawn(spec.meters)

    meters = _meters(spec, layout) if spec.mix == "classic" else hard_meters(spec)
    visitors = VISITORS_PER_DAY if spec.mix == "mixed" else 0.0
    plans, forms = [], {}
    for meter, stream in zip(meters, meter_streams, strict=True):
        rng = np.random.default_rng(stream)
        household = make_household(meter.household, meter.profile, rng, meter.kind, visitors)
        interval_s = meter.interval_min * 60.0
        phase = float(rng.integers(0, int(interval_s)))
        initial_l = float(round(rng.uniform(5_000, 400_000)))
        forms[meter.id] = str(rng.choice(TS_FORMS, p=TS_FORM_WEIGHTS))
        times = t0 + phase + interval_s * np.arange(int((t_end - t0 - phase) // interval_s) + 1)
        # Routines draw day by day, last: a longer run (total_days) shares the first days exactly.
        uses = routine(household, t0 - 86400.0, t_end, rng)
        plans.append(MeterPlan(meter, household, uses, times, initial_l, t_end))

    kinds = EVENT_KINDS if spec.mix == "classic" else HARD_EVENT_KINDS
    truth = _place_events(plans, events_rng, t0, events_end, kinds) if spec.events else []
    clean, backlog_batches = [], []
    for plan in plans:
        on_time, backlog = _readings(plan)
        clean.append(on_time)
        backlog_batches += backlog
    notices = [AwayNotice(p.meter.id, _dt(f), _dt(u)) for p in plans for _, f, u in p.away]
    messages = _messages(spec, plans, clean, backlog_batches if spec.faults else [], forms, faults_rng)
    if spec.faults:
        samples = {rs[0].meter_id: rs[0] for rs in clean if rs}
        messages = apply_faults(messages, samples, faults_rng)
    ordered = sorted((r for rs in clean for r in rs), key=lambda r: (r.ts, r.meter_id))
    return Scenario(
        spec, meters, sorted(truth, key=lambda e: (e.start, e.meter)), messages, start, _dt(t_end), ordered,
        [r for _, batch in backlog_batches for r in batch], notices,
        {p.household.id: p.household.persons for p in plans},
    )


def _dt(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(round(epoch_s, 3), tz=UTC)


def _meters(spec: ScenarioSpec, rng: np.random.Generator) -> list[SimMeter]:
    elderly = round(spec.meters * spec.elderly_share)
    profiles = rng.permutation(["elderly_alone"] * elderly + ["standard"] * (spec.meters - elderly))
    hourly = set(rng.permutation(spec.meters)[: spec.meters // 3]) if spec.mixed_intervals else set()
    return [
        SimMeter(f"{spec.prefix}-{i + 1:03d}", str(profiles[i]),
                 60.0 if i in hourly else float(spec.interval_min), f"hh-{i + 1:03d}")
        for i in range(spec.meters)
    ]


def hard_meters(spec: ScenarioSpec) -> list[SimMeter]:
    """The frugal or mixed scenario's meters, from a stream of their own (the classic one is untouched)."""
    rng = np.random.default_rng([spec.seed, 91])
    n = spec.meters
    if spec.mix == "frugal":
        kinds = ["frugal"] * n
    else:
        names = [k for k, _ in MIXED_KINDS]
        kinds = [str(k) for k in rng.choice(names, size=n, p=[w for _, w in MIXED_KINDS])]
    hourly = set(rng.permutation(n)[: n // 3]) if (spec.mixed_intervals or spec.mix == "mixed") else set()
    coarse = set(rng.permutation(n)[: round(n * COARSE_SHARE)]) if spec.mix == "mixed" else set()
    batched = set(rng.permutation(n)[: round(n * BATCH_SHARE)]) if spec.mix == "mixed" else set()
    meters = []
    for i, kind in enumerate(kinds):
        interval = 60.0 if i in hourly else float(spec.interval_min)
        meters.append(SimMeter(
            f"{spec.prefix}-{i + 1:03d}", "standard" if kind == "standard" else "elderly_alone", interval,
            f"hh-{i + 1:03d}", kind, 10.0 if i in coarse else 0.0, 4 if (i in batched and interval == 15.0) else 1,
        ))
    return meters


def _place_events(plans: list[MeterPlan], rng: np.random.Generator, lo: float, hi: float,
                  kinds: tuple[str, ...] = EVENT_KINDS) -> list[TruthEvent]:
    """About a third to a half of the meters get one event; kinds go round so each one appears."""
    count = min(len(plans), max(1, round(len(plans) * float(rng.uniform(1 / 3, 1 / 2)))))
    free = [plans[int(i)] for i in rng.permutation(len(plans))]
    truth: list[TruthEvent] = []
    attempts = 0
    while len(truth) < count and free and attempts < 3 * len(kinds) + count:
        kind = kinds[attempts % len(kinds)]
        attempts += 1
        elderly = [p for p in free if p.meter.profile == "elderly_alone"]
        if kind in ELDERLY_ONLY:
            candidates = elderly
        elif kind in PREFER_ELDERLY:
            candidates = elderly or free
        else:
            candidates = free
        for plan in candidates[:3]:  # a kind that does not fit one meter's days may fit another's
            event = PLACERS[kind](plan, rng, lo, hi)
            if event is not None:
                truth.append(event)
                free.remove(plan)
                break
    return truth


def _readings(plan: MeterPlan) -> tuple[list[Reading], list[tuple[float, list[Reading]]]]:
    """(readings sent on time, [(resume time, backlog readings)]) of one meter."""
    times = plan.report_times
    volume, flow = read(plan.uses, times)
    register = plan.initial_l + volume
    if plan.meter.coarse_l:  # a pulse meter: the register moves in whole steps
        register = np.floor(register / plan.meter.coarse_l) * plan.meter.coarse_l
    for at, after in sorted(plan.resets):
        at_volume = plan.initial_l + read(plan.uses, np.array([at]))[0][0]
        later = times >= at
        register[later] = register[later] - at_volume + after
    rng = np.random.default_rng(int(plan.initial_l))  # battery noise only: no effect on other draws
    days = (times - times[0]) / 86400.0
    battery = np.round(3.62 - 0.002 * days + rng.normal(0, 0.004, len(times)), 3)
    missing = np.zeros(len(times), dtype=bool)
    backlog: list[tuple[float, list[Reading]]] = []
    for start, until, late in plan.silent:
        gap = (times >= start) & (times < until)
        missing |= gap
        if late and gap.any():
            resumed = times[times >= until]
            backlog.append((float(resumed[0]) if len(resumed) else until, [
                _reading(plan, i, times, register, flow, battery) for i in np.flatnonzero(gap)
            ]))
    on_time = [_reading(plan, i, times, register, flow, battery) for i in np.flatnonzero(~missing)]
    return on_time, backlog


def _reading(plan: MeterPlan, i: int, times: np.ndarray, register: np.ndarray, flow: np.ndarray,
             battery: np.ndarray) -> Reading:
    return Reading(plan.meter.id, _dt(float(times[i])), round(float(register[i]), 2), round(float(flow[i]), 2),
                   float(battery[i]), int(i) + 1)


def _messages(spec: ScenarioSpec, plans: list[MeterPlan], clean: list[list[Reading]],
              backlog: list[tuple[float, list[Reading]]], forms: dict[str, str],
              rng: np.random.Generator) -> list[SimMessage]:
    """Messages in publish order (before faults): readings by `spec.batch`, notices, late batches."""
    out: list[SimMessage] = []
    late_meter = _late_batch_meter(spec, plans, backlog, rng)
    for plan, readings in zip(plans, clean, strict=True):
        meter = plan.meter
        for chunk in _chunks(readings, max(spec.batch, meter.upload_every), meter.interval_min * 60.0):
            out.append(SimMessage("reading", meter.id, encode_readings(chunk, forms[meter.id]), chunk[-1].ts))
        for published, start, until in plan.away:
            out.append(SimMessage("away", meter.id, encode_away(_dt(start), _dt(until)), _dt(published)))
        if meter.id == late_meter and len(readings) > 10:
            out = _hold_two(out, meter, readings, forms[meter.id], rng)
    for resumed, batch in backlog:
        meter_id = batch[0].meter_id
        out.append(SimMessage("reading", meter_id, encode_readings(batch, forms[meter_id]), batch[-1].ts,
                              publish_at=_dt(resumed + 1.0), fault="late_batch"))
    out.sort(key=lambda m: (m.send_time, m.meter))
    return out


def _chunks(readings: list[Reading], size: int, interval_s: float) -> Iterator[list[Reading]]:
    """Consecutive readings in groups of `size`; a gap (a silence) closes a group."""
    chunk: list[Reading] = []
    for reading in readings:
        if chunk and (len(chunk) == size or (reading.ts - chunk[-1].ts).total_seconds() > 1.5 * interval_s):
            yield chunk
            chunk = []
        chunk.append(reading)
    if chunk:
        yield chunk


def _late_batch_meter(spec: ScenarioSpec, plans: list[MeterPlan], backlog: list[Any],
                      rng: np.random.Generator) -> str | None:
    """With no silent meter's backlog to send late, one meter holds two readings back instead."""
    if not spec.faults or backlog or spec.batch > 1:
        return None
    quiet = [p.meter.id for p in plans if not (p.silent or p.resets or p.away)]
    return quiet[int(rng.integers(len(quiet)))] if quiet else None


def _hold_two(out: list[SimMessage], meter: SimMeter, readings: list[Reading], form: str,
              rng: np.random.Generator) -> list[SimMessage]:
    """Two consecutive readings go out together half an interval after the second: late, but
    short of the three missed intervals that would make the meter look offline."""
    k = int(rng.integers(2, len(readings) - 3))
    held = readings[k:k + 2]
    kept = [m for m in out if not (m.meter == meter.id and m.topic_kind == "reading" and m.event_time in
                                   (held[0].ts, held[1].ts))]
    publish_at = held[1].ts.timestamp() + meter.interval_min * 30.0
    kept.append(SimMessage("reading", meter.id, encode_readings(held, form), held[1].ts,
                           publish_at=_dt(publish_at), fault="late_batch"))
    return kept
