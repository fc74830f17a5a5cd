"""water.continuous_flow from the minimum night flow: leaks the 24-h rule misses, one episode per leak."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from rules.water.night import night_min_lph
from tests.rules.water_helpers import T0, feed, of_type, readings, rules_with

LOCAL_H = 8  # the default local_utc_offset_h: T0 (00:00 UTC) is 08:00 local


def days(n: int, litres: Callable[[int, float], float]) -> list[float]:
    """15-min usage for n days: litres(day, local hour at the interval's end)."""
    return [litres(q // 96, ((q + 1) / 4 + LOCAL_H) % 24) for q in range(n * 96)]


def person(day: int, hour: float) -> float:
    """Someone at home: a flush at 07:00, 12:00, 19:00 and 22:00, a wash at 08:00; dry nights."""
    return {7.0: 6.0, 8.0: 3.0, 12.0: 6.0, 19.0: 6.0, 22.0: 6.0}.get(hour, 0.0)


def night_drip(lph: float | Callable[[int], float]) -> Callable[[int, float], float]:
    """A drip that runs while the pressure is high, 23:00-06:00, and stops in the day."""
    def litres(day: int, hour: float) -> float:
        rate = lph(day) if callable(lph) else lph
        on = hour > 23.0 or hour <= 6.0
        return person(day, hour) + (rate / 4 if on else 0.0)
    return litres


def flow_changes(usage: list[float], **overrides) -> list:
    return of_type(feed(rules_with(**overrides), readings(usage)), "water.continuous_flow")


def test_a_night_drip_that_stops_by_day_is_a_leak_the_24h_rule_misses():
    usage = days(6, night_drip(2.0))
    assert flow_changes(usage, night_flow_enabled=False) == []  # the published rule: a quiet hour every day
    changes = flow_changes(usage)
    assert [(c.state, c.severity) for c in changes] == [("active", "warning")]
    c = changes[0]
    assert c.evidence["method"] == "night_flow" and c.evidence["nights"] == 2
    assert c.evidence["night_min_lph"] == [2.0, 2.0]
    assert "through the night" in c.summary and "2.0 L/h" in c.summary
    # raised after the second night's window (05:00 local = 21:00 UTC)
    assert (c.raised_at - T0).total_seconds() / 3600 < 2 * 24


def test_a_rising_drip_is_critical_and_a_dry_night_clears_it_once():
    rising = night_drip(lambda day: [1.5, 3.0, 6.0, 0.0, 0.0, 0.0][day])
    changes = flow_changes(days(6, rising))
    assert [(c.state, c.severity) for c in changes] == [("active", "critical"), ("cleared", "critical")]
    assert changes[0].evidence["trend"] == "rising"
    assert changes[1].evidence["cleared_by"] == "dry_night" and changes[0].id == changes[1].id


def test_a_large_night_flow_is_critical():
    changes = flow_changes(days(5, night_drip(12.0)))
    assert changes[0].severity == "critical" and changes[0].evidence["trend"] == "large"


def test_night_flushes_and_a_sleepless_night_are_no_leak():
    def restless(day: int, hour: float) -> float:
        night = 6.0 if hour in (2.0, 4.0) else 0.0  # two flushes every night
        awake = 3.0 if day == 2 and (hour <= 6.0) else 0.0  # one night up and about
        return person(day, hour) + night + awake
    assert flow_changes(days(8, restless)) == []


def test_the_24h_rule_and_the_night_share_one_episode_until_both_let_go():
    # a running toilet for 3 days (the 24-h rule and the night both see it), then only a night drip
    usage = days(3, lambda d, h: person(d, h) + 1.0) + days(3, night_drip(2.0))
    changes = flow_changes(usage)
    assert [(c.state, c.severity) for c in changes] == [("active", "warning"), ("active", "critical")]
    assert len({c.id for c in changes}) == 1  # the quiet hours of the drip days clear nothing: the night holds it


def test_gaps_make_a_night_unknown_not_dry():
    assert night_min_lph([0.0, 0.0, 3 * 3600.0, 5.0]) is None  # one 3-h span: unknown
    assert night_min_lph([0.0, 0.0, 3600.0, 2.0, 7200.0, 4.0]) == (2.0, 2.0)



def test_a_night_window_across_midnight_is_refused_with_a_clear_error():
    with pytest.raises(ValidationError, match="night_start_h must be before night_end_h"):
        rules_with(night_start_h=23, night_end_h=5)
