"""The e-bike rule over frame sequences: synthetic boxes, since the rule is pure.

A scenario is a list of frames at 5 frames a second of a 1280x720 camera looking at the car
from the ceiling: the car floor is the lower half of the frame, the door and the lobby above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ingest.wire.elevator import ElevatorStatus
from rules.elevator.ebike import DEFAULT_ANNOUNCEMENT, EBIKE, Decision, EbikeParams, EbikeRule
from rules.elevator.tracker import Detection
from rules.elevator.zone import Zone

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
FPS = 5
HW = (720, 1280)
CAR = Zone.of([(0.2, 0.5), (0.8, 0.5), (0.9, 1.0), (0.1, 1.0)])
EID = "elv-3-1"

IN_CAR = (500.0, 300.0, 800.0, 700.0)  # 13 % of the frame, foot on the car floor
IN_CAR_2 = (850.0, 350.0, 1050.0, 690.0)  # a second bike beside it
LOBBY = (560.0, 150.0, 700.0, 330.0)  # seen through the open door: foot outside the car
TINY = (600.0, 600.0, 640.0, 640.0)  # 0.2 % of the frame: a toy, or a far-off false box


def bike(box: tuple[float, float, float, float] = IN_CAR, score: float = 0.8) -> Detection:
    return Detection(box, score, "ebike")


def person(score: float = 0.9) -> Detection:
    return Detection((300.0, 200.0, 450.0, 700.0), score, "person")


@dataclass
class Run:
    decisions: list[Decision] = field(default_factory=list)

    def frames_with(self, pred: Callable[[Decision], bool]) -> list[int]:
        return [i for i, d in enumerate(self.decisions) if pred(d)]

    @property
    def changes(self) -> list:
        return [c for d in self.decisions for c in d.changes]

    @property
    def raises(self) -> list[int]:
        return self.frames_with(lambda d: any(c.state == "active" and c.revision == 1 for c in d.changes))

    @property
    def updates(self) -> list[int]:
        return self.frames_with(lambda d: any(c.state == "active" and c.revision > 1 for c in d.changes))

    @property
    def clears(self) -> list[int]:
        return self.frames_with(lambda d: any(c.state == "cleared" for c in d.changes))


def run(
    frames: list[list[Detection]], door: dict[int, str] | None = None, rule: EbikeRule | None = None
) -> Run:
    """Feed frames; `door` maps a frame index to the status the box sends just before that frame.

    Index -1 is a status a minute before the first frame (a door closed all along).
    """
    rule = rule or EbikeRule(zones={EID: CAR})
    out = Run()
    if door and -1 in door:
        rule.on_status(EID, ElevatorStatus(ts=T0 - timedelta(minutes=1), door=door[-1]))  # type: ignore[arg-type]
    for i, detections in enumerate(frames):
        ts = T0 + timedelta(seconds=i / FPS)
        if door and i in door:
            rule.on_status(EID, ElevatorStatus(ts=ts, door=door[i]))  # type: ignore[arg-type]
        out.decisions.append(rule.on_frame(EID, ts, detections, HW))
    return out


OPEN = {0: "open"}
CLOSED = {-1: "closed"}  # closed since a minute before the first frame


# -- when it raises, and when it must not ----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "frames", "door", "raises"),
    [
        ("bike pushed in, door open", [[bike()]] * 20, OPEN, [4]),
        ("bike with a person", [[person(), bike()]] * 20, OPEN, [4]),
        ("no status box: vision alone", [[bike()]] * 20, None, [4]),
        ("flicker: seen 1 frame in 3", [[bike(score=0.9)] if i % 3 == 0 else [] for i in range(60)], OPEN, []),
        ("low scores with a few high", [[bike(score=0.95 if i % 4 == 0 else 0.3)] for i in range(60)], OPEN, []),
        ("bike in the lobby through the open door", [[bike(LOBBY, 0.9)]] * 60, OPEN, []),
        ("tiny box", [[bike(TINY, 0.9)]] * 60, OPEN, []),
        ("person only", [[person()]] * 60, OPEN, []),
        ("a bicycle label is not an e-bike", [[Detection(IN_CAR, 0.9, "bicycle")]] * 60, OPEN, []),
        ("nothing", [[]] * 60, OPEN, []),
    ],
)
def test_raise_table(name: str, frames: list[list[Detection]], door: dict[int, str] | None, raises: list[int]) -> None:
    assert run(frames, door).raises == raises, name


def test_raise_carries_the_linkage_and_marks_the_deciding_frame() -> None:
    result = run([[bike()]] * 10, OPEN)
    decision = result.decisions[4]
    (change,) = decision.changes
    assert decision.snapshot and decision.confirmed == (1,)
    assert (change.type, change.subject, change.severity, change.state) == (EBIKE, EID, "critical", "active")
    assert change.started_at == change.raised_at == T0 + timedelta(seconds=4 / FPS)
    assert "电动车" in change.summary and "E-bike" in change.summary and EID in change.summary
    assert change.evidence["track_id"] == 1 and change.evidence["frames_seen"] == 5
    assert change.evidence["median_score"] == 0.8 and change.evidence["box"] == list(IN_CAR)
    assert change.evidence["door"] == "open" and change.evidence["admitted_by"] == "door"
    assert [(c.action, c.alert_id) for c in decision.commands] == [("hold_door", change.id), ("announce", change.id)]
    assert decision.commands[1].text == DEFAULT_ANNOUNCEMENT
    assert not any(d.snapshot or d.commands for i, d in enumerate(result.decisions) if i != 4)


def test_announcement_is_configurable() -> None:
    rule = EbikeRule(EbikeParams(announce_text="Please take the e-bike out"), {EID: CAR})
    commands = [c for d in run([[bike()]] * 10, OPEN, rule).decisions for c in d.commands]
    assert [c.text for c in commands if c.action == "announce"] == ["Please take the e-bike out"]


# -- a bike that stays, a bike that leaves, two bikes ----------------------------------------------
def jitter(i: int) -> Detection:
    """A parked bike as a detector sees it: a few pixels and a few hundredths of score of noise."""
    dx = (i * 7) % 7 - 3
    return bike((500.0 + dx, 300.0 - dx, 800.0 + dx, 700.0), 0.8 + ((i * 3) % 5 - 2) / 100)


def test_bike_that_stays_raises_once_and_does_not_chatter() -> None:
    result = run([[jitter(i)] for i in range(200)], OPEN)
    assert result.raises == [4]
    assert result.updates == [] and result.clears == []
    assert len(result.changes) == 1


def test_bike_that_moves_updates_the_same_episode() -> None:
    # Parked, then pushed 200 px across the car at frame 100, then parked again.
    frames = [[jitter(i)] for i in range(100)]
    frames += [[bike((500.0 + 2 * k, 300.0, 800.0 + 2 * k, 700.0))] for k in range(1, 101)]
    result = run(frames, OPEN)
    assert result.raises == [4]
    assert 1 <= len(result.updates) <= 3  # one per large move, never one per frame
    assert {c.id for c in result.changes} == {result.changes[0].id}
    assert [c.revision for c in result.changes] == list(range(1, len(result.changes) + 1))


def test_bike_leaves_clears_after_n_frames_and_releases_the_door() -> None:
    params = EbikeParams(clear_after_frames=15)
    result = run([[bike()]] * 20 + [[]] * 40, OPEN, EbikeRule(params, {EID: CAR}))
    assert result.raises == [4]
    assert result.clears == [20 + 15 - 1]  # the 15th frame without the bike
    (cleared,) = result.decisions[34].changes
    raised = result.changes[0]
    assert cleared.id == raised.id and cleared.cleared_at == T0 + timedelta(seconds=34 / FPS)
    assert "已离开" in cleared.summary and "gone" in cleared.summary
    assert [(c.action, c.alert_id) for c in result.decisions[34].commands] == [("release_door", raised.id)]
    assert len(result.changes) == 2


def test_short_detector_dropouts_do_not_clear() -> None:
    frames = [[bike()] if i < 10 or i % 4 else [] for i in range(200)]  # misses every 4th frame
    result = run(frames, OPEN)
    assert result.raises == [4] and result.clears == []


def test_a_new_bike_after_a_clear_is_a_new_episode() -> None:
    params = EbikeParams(clear_after_frames=10, max_missed=2)
    result = run([[bike()]] * 20 + [[]] * 20 + [[bike()]] * 20, {0: "open"}, EbikeRule(params, {EID: CAR}))
    assert result.raises == [4, 44] and result.clears == [29]
    first, second = result.decisions[4].changes[0], result.decisions[44].changes[0]
    assert first.id != second.id


def test_two_bikes_are_one_episode() -> None:
    frames = [[bike()] for _ in range(10)] + [[bike(), bike(IN_CAR_2, 0.7)] for _ in range(30)]
    result = run(frames, OPEN)
    assert result.raises == [4]
    assert len({c.id for c in result.changes}) == 1
    assert result.updates == [14]  # the second bike confirmed 5 frames after it appeared: bikes 1 -> 2
    assert result.decisions[14].changes[0].evidence["bikes"] == 2
    assert result.decisions[14].confirmed == (1, 2)


def test_one_bike_boxed_twice_counts_as_one() -> None:
    # Past NMS a detector may box the whole bike and its front half: two tracks, one bike.
    whole, half = (500.0, 300.0, 800.0, 700.0), (500.0, 300.0, 660.0, 560.0)
    result = run([[bike(whole, 0.8), bike(half, 0.6)] for _ in range(10)], OPEN)
    assert result.raises == [4]
    raised = result.decisions[4]
    assert len(raised.confirmed) == 2 and raised.changes[0].evidence["bikes"] == 1
    assert "（1 辆）" in raised.changes[0].summary


def test_a_second_box_that_comes_and_goes_does_not_chatter() -> None:
    # The half-bike box flickers in and out: tracks come and go and the lead may swap; the phone stays quiet.
    whole, half = (500.0, 300.0, 800.0, 700.0), (500.0, 300.0, 660.0, 560.0)
    frames = [[bike(whole, 0.8), bike(half, 0.85)] if (i // 3) % 2 else [bike(whole, 0.8)] for i in range(120)]
    result = run(frames, OPEN)
    assert len(result.raises) == 1 and result.updates == [] and result.clears == []


# -- the door --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "door", "frames", "params", "raises"),
    [
        ("glitch on a poster, door closed, 10 frames", CLOSED, [[bike()]] * 10, {}, []),
        # Persisting with the door closed all along: raised once it has qualified for 30 s (150 frames).
        ("persists with the door closed", CLOSED, [[bike()]] * 200, {}, [4 + 150]),
        ("persistence path off", CLOSED, [[bike()]] * 200, {"closed_door_persist_s": 0}, []),
        # The door closed 2 s before the bike is first seen: within the 10 s grace, pushed in as it closed.
        ("seen just after the door closed", {0: "open", 5: "closed"}, [[]] * 15 + [[bike()]] * 10, {}, [19]),
        # First seen 20 s after the door closed: not a bike pushed in through the door.
        ("seen long after the door closed", {0: "open", 5: "closed"}, [[]] * 105 + [[bike()]] * 10, {}, []),
        # Already inside when the car stops and the door opens.
        ("inside when the door opens", {-1: "closed", 30: "open"}, [[bike()]] * 40, {}, [30]),
    ],
)
def test_door_table(
    name: str, door: dict[int, str], frames: list[list[Detection]], params: dict, raises: list[int]
) -> None:
    rule = EbikeRule(EbikeParams(**params), {EID: CAR})
    assert run(frames, door, rule).raises == raises, name


def test_persistence_raise_says_so() -> None:
    result = run([[bike()]] * 160, CLOSED)
    (change,) = result.decisions[154].changes
    assert change.evidence["admitted_by"] == "persistence" and change.evidence["door"] == "closed"


def test_a_late_status_does_not_turn_the_door_back() -> None:
    rule = EbikeRule(zones={EID: CAR})
    rule.on_status(EID, ElevatorStatus(ts=T0 - timedelta(minutes=1), door="closed"))
    rule.on_status(EID, ElevatorStatus(ts=T0 - timedelta(minutes=5), door="open"))  # delivered late
    assert run([[bike()]] * 10, None, rule).raises == []


# -- replay, elevators apart, parameters -----------------------------------------------------------
def test_replay_gives_the_same_episode_ids() -> None:
    frames = [[bike()]] * 20 + [[]] * 30
    first, second = run(frames, OPEN), run(frames, OPEN)
    assert [c.id for c in first.changes] == [c.id for c in second.changes] != []


def test_elevators_are_judged_apart() -> None:
    rule = EbikeRule(zones={EID: CAR})
    for i in range(10):
        ts = T0 + timedelta(seconds=i / FPS)
        rule.on_frame(EID, ts, [bike()], HW)
        rule.on_frame("elv-other", ts, [], HW)
    assert rule.is_open(EID) and not rule.is_open("elv-other")


def test_out_of_order_frame_is_ignored() -> None:
    rule = EbikeRule()
    rule.on_frame(EID, T0, [bike()], HW)
    assert rule.on_frame(EID, T0 - timedelta(seconds=1), [bike()], HW) == Decision()


@pytest.mark.parametrize(
    "bad",
    [
        {"min_seen_frames": 11, "window_frames": 10},
        {"score_threshold": 0},
        {"min_area_share": 1.5},
        {"announce_text": ""},
        {"clear_after_frames": 0},
        {"colour": "red"},
    ],
)
def test_bad_parameters_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        EbikeParams(**bad)


def test_every_parameter_is_described() -> None:
    assert all(f.description for f in EbikeParams.model_fields.values())
