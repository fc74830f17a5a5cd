"""Each alert carries a structured reason (key and parameters) that the one catalogue words fully in Chinese and
English; the contract's `summary` is left as it was."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dispatch.messages import catalogue, describe, render
from edge.evaluation.replay import replay
from ingest.wire.water import Reading
from rules.episode import EpisodeBook
from rules.water.engine import WaterRules
from rules.water.thresholds import WaterThresholds, resolve
from simulators.water.scenario import ScenarioSpec, generate

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def test_every_reason_of_a_simulated_fleet_is_worded_in_both_languages() -> None:
    changes = []
    for mix in ("classic", "mixed"):  # mixed: night drips, cistern leaks, batch uploads, pulse meters
        scenario = generate(ScenarioSpec(meters=40, days=4, interval_min=15.0, seed=3, start=T0, faults=True,
                                         mix=mix))
        changes += replay(list(scenario.readings()), lambda _m: resolve("elderly_alone"), scenario.away_notices())
    changes += _building_outage()
    keys = _worded(changes)
    assert {"water.no_usage.events", "water.tap_open", "water.continuous_flow.every_hour", "water.meter_offline",
            "water.gateway_offline", "water.gateway_offline.cleared.reading"} <= keys, keys
    assert any(k.endswith(".cleared.use") for k in keys), keys


def _building_outage() -> list:
    """Every meter of one building silent for hours, then back: a gateway_offline raised and cleared."""
    thresholds = WaterThresholds.model_validate({"reporting_interval_min": 15})
    rules = WaterRules(lambda _m: thresholds, {"a": "b-1", "b": "b-1", "c": "b-2"}.get)
    out = []
    for step in range(4 * 30):
        ts = T0 + timedelta(minutes=15 * step)
        for meter in "abc":
            if meter == "c" or not 4 * 6 <= step < 4 * 20:
                out += rules.on_reading(Reading(meter_id=meter, ts=ts, total_l=100.0 + step / 2)).changes
        out += rules.advance(ts)
    return out


def _worded(changes: list) -> set[str]:
    """The reason keys met; each reason must be worded in zh and en with every parameter it names."""
    keys = set()
    for change in changes:
        reasons = [change.evidence["reason"]]
        if change.state == "cleared":
            reasons.append(change.evidence["cleared_reason"])
        for reason in reasons:
            keys.add(reason["key"])
            for lang in ("zh", "en"):
                text = render(reason, lang)
                assert text is not None, f"no {lang} message for {reason['key']}"
                assert "{" not in text and " - " not in text, (reason, text)  # every parameter it names is there
    return keys


def test_every_way_an_alert_ends_has_its_words() -> None:
    """Each `cleared_by` a rule or the edge writes is in the catalogue for its type."""
    messages = catalogue()["messages"]
    ways = set()
    for path in [*ROOT.glob("rules/**/*.py"), *ROOT.glob("edge/**/*.py")]:
        ways |= set(re.findall(r'"cleared_by": "(\w+)"', path.read_text(encoding="utf-8")))
    assert ways, "no cleared_by found: the scan is wrong"
    missing = [w for w in ways if not any(key.endswith(f".cleared.{w}") for key in messages)]
    assert not missing, missing


def test_a_cleared_alert_keeps_what_it_was_and_says_why_it_ended() -> None:
    book = EpisodeBook()
    raised = book.raise_or_update("water.tap_open", "m-7", "critical", T0, T0, "Tap open at meter m-7 ...",
                                  {"minutes": 45.0, "litres": 419.0, "avg_lpm": 9.3, "since": "2026-01-05T00:00:00Z"})
    cleared = book.clear("water.tap_open", "m-7", T0, "Flow back under 2 L/min at meter m-7",
                         {"cleared_by": "flow_dropped"})
    assert raised is not None and cleared is not None
    assert raised.summary == "Tap open at meter m-7 ..."  # the contract's summary is the edge's, unchanged
    assert cleared.evidence["reason"]["key"] == "water.tap_open"
    assert cleared.evidence["cleared_reason"]["key"] == "water.tap_open.cleared.flow_dropped"
    en = describe(cleared.evidence, "cleared", cleared.summary, "en")
    assert en.startswith("Tap open for 45 min at 9.3 L/min") and en.endswith("Flow back to normal"), en
    assert describe(cleared.evidence, "cleared", cleared.summary, "zh").endswith("水流已回落")


def test_an_update_with_the_same_evidence_is_no_change() -> None:
    """The reason is derived from the evidence, so asking again with the same evidence still changes nothing."""
    book = EpisodeBook()
    evidence = {"bikes": 1, "door": "open"}
    assert book.raise_or_update("elevator.ebike", "el-1", "critical", T0, T0, "s", evidence) is not None
    assert book.raise_or_update("elevator.ebike", "el-1", "critical", T0, T0, "s", dict(evidence),
                                update_evidence=True) is None


def test_an_alert_without_a_reason_is_told_by_its_summary() -> None:
    assert describe({}, "active", "e-bike in elevator elev-3", "en") == "e-bike in elevator elev-3"
