"""The rule's thresholds: from the model's decision card by operating point, overridden by the config; and a
rider's box overlapping the bike changes nothing the rule decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.vision.decision import DecisionCard, PointCard
from rules.elevator.ebike import DEFAULT_MIN_SEEN, DEFAULT_SCORE_THRESHOLD, EbikeParams, EbikeRule
from rules.elevator.tracker import Detection

CARD = DecisionCard(operating_points={"strict": PointCard(score_threshold=0.85, min_seen_frames=6),
                                      "balanced": PointCard(score_threshold=0.6, min_seen_frames=4)},
                    default_point="strict")
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
BIKE = (500.0, 300.0, 800.0, 700.0)
RIDER = (520.0, 100.0, 760.0, 690.0)  # standing over the bike: most of the bike's box is under it


@pytest.mark.parametrize("given,expected", [
    ({}, (0.85, 6)),
    ({"operating_point": "balanced"}, (0.6, 4)),
    ({"operating_point": "balanced", "score_threshold": 0.7}, (0.7, 4)),
    ({"min_seen_frames": 3}, (0.85, 3)),
])
def test_thresholds_come_from_the_card_unless_set(given: dict, expected: tuple[float, int]):
    params = EbikeParams(**given).resolved(CARD)
    assert (params.score_threshold, params.min_seen_frames) == expected


def test_without_a_card_the_defaults_hold_and_a_point_is_an_error():
    params = EbikeParams().resolved(None)
    assert (params.score_threshold, params.min_seen_frames) == (DEFAULT_SCORE_THRESHOLD, DEFAULT_MIN_SEEN)
    assert EbikeRule(EbikeParams()).params.score_threshold == DEFAULT_SCORE_THRESHOLD
    with pytest.raises(ValueError, match="decision card"):
        EbikeParams(operating_point="strict").resolved(None)
    with pytest.raises(ValueError, match="not in the model's decision card"):
        EbikeParams(operating_point="balanced").resolved(DecisionCard(
            operating_points={"strict": PointCard(score_threshold=0.9, min_seen_frames=5)}))


def _run(with_rider: bool, scores: list[float]) -> list[tuple]:
    rule = EbikeRule(EbikeParams(score_threshold=0.5, min_seen_frames=5))
    out = []
    for i, score in enumerate(scores):
        boxes = [Detection(BIKE, score, "ebike")]
        if with_rider:
            boxes = [Detection(RIDER, 0.95, "person"), *boxes, Detection(RIDER, 0.3, "person")]
        decision = rule.on_frame("car", T0 + timedelta(seconds=i / 5), boxes, (720, 1280))
        out.append((decision.confirmed, [(c.state, c.revision, c.evidence.get("median_score"))
                                         for c in decision.changes], [c.action for c in decision.commands]))
    return out


@pytest.mark.parametrize("scores", [[0.8] * 15 + [0.0] * 30, [0.45, 0.55] * 10, [0.49] * 20])
def test_a_rider_neither_strengthens_nor_weakens_the_bike(scores: list[float]):
    assert _run(True, scores) == _run(False, scores)
