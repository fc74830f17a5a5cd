"""water.no_usage: quiet spans over the register, hysteresis, gaps, resets, away notices."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest.wire.water import AwayNotice, Reading
from tests.rules.water_helpers import T0, at_h, brief, feed, of_type, readings, rules_with, then, timeline


def quiet_then(hours: float, step_min: float, after: list[float]) -> list[Reading]:
    return readings([0.0] * int(hours * 60 / step_min) + after, step_min=step_min)


CASES = [
    # name, series, thresholds, expected (type, state, severity, hours after T0)
    ("13 h quiet, 15-min data", quiet_then(13, 15, []), {}, [("no_usage", "active", "warning", 12.0)]),
    ("13 h quiet, 1-h data", quiet_then(13, 60, []), {}, [("no_usage", "active", "warning", 12.0)]),
    ("11.75 h quiet: nothing", quiet_then(11.75, 15, []), {}, []),
    (
        "quiet 25 h then a 5 L use: warning, critical, cleared once",
        quiet_then(25, 15, [5.0, 0.0, 8.0]), {},
        [("no_usage", "active", "warning", 12.0), ("no_usage", "active", "critical", 24.0),
         ("no_usage", "cleared", "critical", 25.25)],
    ),
    (
        "a 6 L flush inside the 12 h is still 'under 10 L'",
        readings([0.0] * 24 + [6.0] + [0.0] * 25), {}, [("no_usage", "active", "warning", 12.0)],
    ),
    ("1 L an hour reaches 10 L in 10 h: never quiet", readings([0.25] * 100), {}, []),
    (
        "a drip of 0.4 L/h is no person: raised, never cleared",
        readings([0.1] * 120), {}, [("no_usage", "active", "warning", 12.0), ("no_usage", "active", "critical", 24.0)],
    ),
    (
        "hysteresis: 2 L does not clear, 4 L does",
        quiet_then(13, 15, [2.0, 0.0, 4.0]), {},
        [("no_usage", "active", "warning", 12.0), ("no_usage", "cleared", "warning", 13.75)],
    ),
    (
        "small uses adding up to 10 L within the window clear it",
        quiet_then(13, 15, [2.5, 2.5, 2.5, 2.5]), {"no_usage_clear_l": 5.0},
        [("no_usage", "active", "warning", 12.0), ("no_usage", "cleared", "warning", 14.0)],
    ),
    (
        "a long silent gap with the register unchanged is a known quiet span",
        readings([0.0], step_min=20 * 60), {}, [("no_usage", "active", "warning", 20.0)],
    ),
    ("a long gap with volume is not quiet", readings([50.0], step_min=20 * 60), {}, []),
    ("disabled for the profile", quiet_then(30, 15, []), {"no_usage_enabled": False}, []),
]


@pytest.mark.parametrize(("name", "series", "overrides", "expected"), CASES, ids=[c[0] for c in CASES])
def test_no_usage_by_litres_table(name, series, overrides, expected):
    """The litre threshold, kept for meters that only report coarse totals."""
    assert timeline(rules_with(no_usage_signs="litres", **overrides), series, "water.no_usage") == expected


EVENT_CASES = [
    # name, series, thresholds, expected (type, state, severity, hours after T0)
    ("13 h quiet, 15-min data", quiet_then(13, 15, []), {}, [("no_usage", "active", "warning", 12.0)]),
    ("13 h quiet, 1-h data", quiet_then(13, 60, []), {}, [("no_usage", "active", "warning", 12.0)]),
    ("11.75 h quiet: nothing", quiet_then(11.75, 15, []), {}, []),
    (
        "a 6 L flush at 6 h is a sign of life: the 12 h count from it",
        readings([0.0] * 24 + [6.0] + [0.0] * 50), {}, [("no_usage", "active", "warning", 18.25)],
    ),
    (
        "frugal: a 2 L wash every 5 h is alive, though 12 h hold under 10 L",
        readings(([0.0] * 19 + [2.0]) * 12), {}, [],
    ),
    (
        "a drip of 0.4 L/h is no person: raised, then critical, never cleared",
        readings([0.1] * 120), {}, [("no_usage", "active", "warning", 12.0), ("no_usage", "active", "critical", 24.0)],
    ),
    (
        "a running toilet (30 L/h) is no person once its base flow is learnt",
        readings([7.5] * 120), {},
        [("no_usage", "active", "warning", 13.25), ("no_usage", "active", "critical", 25.25)],
    ),
    (
        "a flush on top of the running toilet is a person",
        readings([7.5] * 40 + [13.5] + [7.5] * 40), {}, [],
    ),
    (
        "quiet 25 h then a 2 L use: warning, critical, cleared once",
        quiet_then(25, 15, [2.0, 0.0]), {},
        [("no_usage", "active", "warning", 12.0), ("no_usage", "active", "critical", 24.0),
         ("no_usage", "cleared", "critical", 25.25)],
    ),
    (
        "half a litre is under the event size: no clear",
        quiet_then(13, 15, [0.5, 0.0]), {}, [("no_usage", "active", "warning", 12.0)],
    ),
    (
        "a long silent gap with the register unchanged is a known quiet span",
        readings([0.0], step_min=20 * 60), {}, [("no_usage", "active", "warning", 20.0)],
    ),
    ("a long gap with volume holds a use: not quiet", readings([50.0], step_min=20 * 60), {}, []),
    (
        "a 10-L pulse meter: one pulse is use, the litre option is for worse",
        readings([0.0] * 30 + [10.0] + [0.0] * 30), {}, [],
    ),
    ("disabled for the profile", quiet_then(30, 15, []), {"no_usage_enabled": False}, []),
]


@pytest.mark.parametrize(("name", "series", "overrides", "expected"), EVENT_CASES, ids=[c[0] for c in EVENT_CASES])
def test_no_usage_by_events_table(name, series, overrides, expected):
    assert timeline(rules_with(**overrides), series, "water.no_usage") == expected


def test_a_person_who_falls_while_the_toilet_runs_is_still_found():
    rules = rules_with()
    day = readings([0.0] * 8 + [6.0] + [0.0] * 7 + [3.0] * 4)  # a flush, then a wash: 5 h of life
    fall = then(day, [7.5] * 4 * 16)  # the toilet keeps running after the fall, 16 h
    changes = of_type(feed(rules, day + fall), "water.no_usage")
    assert [c.severity for c in changes] == ["warning"]
    # the running toilet's first two hours still look like use (the base flow window); then only the leak flows
    assert changes[0].started_at <= at_h(7.5)
    assert (changes[0].raised_at - changes[0].started_at).total_seconds() / 3600 == 12.0
    assert changes[0].evidence["base_flow_lph"] == 30.0
    assert "30.0 L/h flows on" in changes[0].summary


def test_started_at_is_the_start_of_the_quiet_span_and_a_new_episode_gets_a_new_id():
    series = readings([30.0] * 4 + [0.0] * 52 + [5.0] + [0.0] * 52)  # use, 13 h quiet, use, 13 h quiet
    changes = of_type(feed(rules_with(no_usage_habit_max_h=0, no_usage_signs="litres"), series), "water.no_usage")
    assert [c.state for c in changes] == ["active", "cleared", "active"]
    assert changes[0].started_at == at_h(1.0)  # the last reading with use
    assert changes[0].id == changes[1].id
    assert changes[2].started_at == at_h(14.25)  # the span restarts at the clearing reading
    assert changes[2].id != changes[0].id
    assert "12.0 h" in changes[0].summary and "m-1" in changes[0].summary and "10 L" in changes[0].summary
    assert changes[0].evidence["quiet_h"] == 12.0


def test_register_reset_restarts_the_span_but_does_not_clear():
    rules = rules_with()
    series = quiet_then(13, 15, [])
    changes = feed(rules, series)
    reset = [Reading("m-1", series[-1].ts + timedelta(minutes=15), 3.0)]
    changes += feed(rules, reset)
    changes += feed(rules, then(reset, [0.0] * 44))  # 11 h after the reset: not 12
    assert brief(of_type(changes, "water.no_usage")) == [("no_usage", "active", "warning", 12.0)]
    assert brief(of_type(changes, "water.meter_tamper")) == [("meter_tamper", "active", "warning", 13.25)]


class TestAway:
    def test_notice_before_the_silence_suppresses_it_and_the_span_restarts_at_return(self):
        rules = rules_with()
        assert rules.on_away(AwayNotice("m-1", at_h(2), at_h(30))) == []
        changes = feed(rules, readings([0.0] * 4 * 44))
        assert brief(of_type(changes, "water.no_usage")) == [("no_usage", "active", "warning", 42.0)]
        assert of_type(changes, "water.no_usage")[0].started_at == at_h(30)

    def test_notice_during_an_episode_clears_it_once_and_nothing_is_raised_while_away(self):
        rules = rules_with()
        series = quiet_then(14, 15, [])
        changes = feed(rules, series)
        cleared = rules.on_away(AwayNotice("m-1", at_h(10), at_h(40)))
        assert brief(cleared) == [("no_usage", "cleared", "warning", 14.0)]
        assert cleared[0].id == changes[0].id
        assert rules.on_away(AwayNotice("m-1", at_h(10), at_h(40))) == []  # the same notice again: nothing
        later = feed(rules, then(series, [0.0] * 4 * 26))  # to 40 h, still silent
        assert of_type(later, "water.no_usage") == []

    def test_notice_that_starts_after_the_last_reading_waits_for_a_reading_inside_it(self):
        rules = rules_with()
        series = quiet_then(14, 15, [])
        feed(rules, series)
        assert rules.on_away(AwayNotice("m-1", at_h(14.1), at_h(20))) == []
        later = feed(rules, then(series, [0.0]))
        assert brief(of_type(later, "water.no_usage")) == [("no_usage", "cleared", "warning", 14.25)]

    def test_a_past_absence_inside_the_quiet_span_restarts_it(self):
        rules = rules_with()
        series = quiet_then(14, 15, [])
        first = feed(rules, series)
        cleared = rules.on_away(AwayNotice("m-1", at_h(1), at_h(3)))
        assert brief(cleared) == [("no_usage", "cleared", "warning", 14.0)]
        again = feed(rules, then(series, [0.0] * 4))  # 15 h: 12 h since the return at 3 h
        assert brief(of_type(again, "water.no_usage")) == [("no_usage", "active", "warning", 15.0)]
        assert again[0].started_at == at_h(3) and again[0].id != first[0].id

    def test_notice_for_a_meter_never_seen_is_kept(self):
        rules = rules_with()
        rules.on_away(AwayNotice("m-9", T0, at_h(48)))
        changes = feed(rules, readings([0.0] * 4 * 30, meter="m-9"))
        assert changes == []
        assert rules.meters() == 1


class TestHabit:
    """A household routinely quiet for long is learnt; the critical hours never move."""

    def day(self, quiet_quarters: int) -> list[float]:
        busy = 96 - quiet_quarters
        # 12 L every half hour while busy (people, not the steady flow of a leak)
        return [0.0] * quiet_quarters + [12.0 if i % 2 == 0 else 0.0 for i in range(busy)]

    def test_a_home_quiet_13_h_every_day_is_warned_once_not_every_day(self):
        rules = rules_with()
        series = readings([12.0] * 8 + self.day(52) * 5)
        changes = of_type(feed(rules, series), "water.no_usage")
        assert [c.state for c in changes] == ["active", "cleared"]

    def test_after_learning_a_longer_silence_still_warns_and_24_h_is_always_critical(self):
        rules = rules_with()
        series = readings([12.0] * 8 + self.day(52) * 3)
        feed(rules, series)
        quiet = then(series, [0.0] * 100)  # 25 h
        changes = of_type(feed(rules, quiet), "water.no_usage")
        warned = [c for c in changes if c.severity == "warning"]
        assert warned and 14.5 < (warned[0].raised_at - warned[0].started_at).total_seconds() / 3600 < 16
        assert warned[0].evidence["usual_quiet_h"] >= 13.0
        critical = [c for c in changes if c.severity == "critical"]
        assert critical and critical[0].evidence["quiet_h"] == 24.0  # an update keeps the first raised_at

    def test_a_home_with_9_h_nights_keeps_the_published_12_h(self):
        rules = rules_with()
        series = readings([12.0] * 8 + self.day(36) * 3)
        feed(rules, series)
        changes = of_type(feed(rules, then(series, [0.0] * 52)), "water.no_usage")
        assert changes and (changes[0].raised_at - changes[0].started_at).total_seconds() / 3600 == 12.0

    def test_an_absence_is_not_learnt_as_a_habit(self):
        rules = rules_with(no_usage_critical_h=24)
        series = readings([12.0] * 8 + [0.0] * 120 + [12.0] * 8)  # 30 h quiet: an incident, not a habit
        feed(rules, series)
        changes = of_type(feed(rules, then(series, [0.0] * 52)), "water.no_usage")
        assert changes and (changes[0].raised_at - changes[0].started_at).total_seconds() / 3600 == 12.0


class TestClearHysteresis:
    """An open episode needs a clear sign of life: 2 L above the base flow, or small rises adding up to it in 6 h."""

    def test_an_empty_home_whose_register_ticks_1_l_every_few_days_is_one_episode(self):
        # 1-h data (as DAIAD), a 4-day absence with a lone 1-L tick every 30 h, then the resident is back
        series = readings(([0.0] * 30 + [1.0]) * 3 + [0.0] * 5 + [6.0, 4.0], step_min=60)
        changes = of_type(feed(rules_with(), series), "water.no_usage")
        assert [(c.state, c.severity) for c in changes] == [("active", "warning"), ("active", "critical"),
                                                           ("cleared", "critical")]
        assert changes[-1].evidence["cleared_by"] == "use"
        # without the hysteresis each tick would have cleared and restarted it: three episodes
        loose = of_type(feed(rules_with(no_usage_clear_event_l=1.0), series), "water.no_usage")
        assert len({c.id for c in loose}) == 3

    def test_a_tick_does_not_put_off_the_critical_update(self):
        series = readings([0.0] * 20 + [1.0] + [0.0] * 6, step_min=60)  # quiet, a 1-L tick at 21 h, quiet to 27 h
        changes = timeline(rules_with(), series, "water.no_usage")
        assert changes == [("no_usage", "active", "warning", 12.0), ("no_usage", "active", "critical", 24.0)]

    def test_small_rises_adding_up_to_2_l_within_6_h_clear_it(self):
        series = quiet_then(13, 15, [1.0] + [0.0] * 8 + [1.0])  # 1 L, 2 h later 1 L more
        assert timeline(rules_with(), series, "water.no_usage") == [
            ("no_usage", "active", "warning", 12.0), ("no_usage", "cleared", "warning", 15.5)]
        cleared = of_type(feed(rules_with(), series), "water.no_usage")[-1]
        assert cleared.evidence["cleared_by"] == "small_uses" and cleared.evidence["used_l"] == 2.0

    def test_small_rises_further_apart_than_6_h_clear_nothing(self):
        series = quiet_then(13, 15, [1.0] + [0.0] * 28 + [1.0] + [0.0] * 18)  # 1 L, 7.25 h later 1 L, to 25 h
        assert timeline(rules_with(), series, "water.no_usage") == [
            ("no_usage", "active", "warning", 12.0), ("no_usage", "active", "critical", 24.0)]

    def test_without_an_open_episode_a_1_l_rise_is_still_a_sign_of_life(self):
        series = readings(([0.0] * 40 + [1.0]) * 4)  # a 1-L use every 10.25 h: never 12 h without one
        assert timeline(rules_with(), series, "water.no_usage") == []
