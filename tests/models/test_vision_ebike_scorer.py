"""The e-bike scorer: per-class calibration, the verifier's fusion through a real ONNX model, and a rider who
neither strengthens nor weakens the bike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge.elevator.config import ElevatorConfig
from ingest.wire.elevator import ElevatorStatus
from models.vision.calibration import Logistic
from models.vision.decision import DecisionCard, PointCard, VerifierCard
from models.vision.ebike_scorer import EbikeScorer, verifier_moot_below
from models.vision.model_file import DEFAULT_EBIKE_MODEL
from models.vision.types import Detections
from models.vision.verifier import CROP_SIZE, CropVerifier, crop_box
from rules.elevator.ebike import EbikeParams, EbikeRule
from rules.elevator.tracker import Detection

NAMES = ("ebike", "person")
BIKE = [100.0, 200.0, 300.0, 400.0]
RIDER = [150.0, 50.0, 280.0, 390.0]


def brightness_verifier(path: Path) -> Path:
    """A real ONNX 'verifier' whose logit is 20 * (mean pixel in 0-1) - 10: bright crops are e-bikes."""
    nodes = [
        helper.make_node("ReduceMean", ["crops", "axes"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "twenty"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "ten"], ["flat"]),
        helper.make_node("Unsqueeze", ["flat", "one"], ["logit"]),
    ]
    inits = [helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3]),
             helper.make_tensor("twenty", TensorProto.FLOAT, [], [20.0]),
             helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0]),
             helper.make_tensor("one", TensorProto.INT64, [1], [1])]
    graph = helper.make_graph(nodes, "verifier", [helper.make_tensor_value_info(
        "crops", TensorProto.FLOAT, ["n", 3, CROP_SIZE, CROP_SIZE])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["n", 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def _found(*rows: tuple[list[float], float, int]) -> Detections:
    return Detections(np.array([r[0] for r in rows], np.float32), np.array([r[1] for r in rows], np.float32),
                      np.array([r[2] for r in rows]), NAMES)


def _image(bright_bike: bool) -> np.ndarray:
    image = np.full((480, 640, 3), 20, np.uint8)
    image[200:400, 100:300] = 250 if bright_bike else 20
    return image


def test_no_card_leaves_the_scores_as_they_are():
    found = _found((BIKE, 0.7, 0), (RIDER, 0.6, 1))
    assert EbikeScorer(None, None).scores(_image(True), found) == pytest.approx([0.7, 0.6])


def test_calibration_is_per_class():
    card = DecisionCard(calibration={"ebike": Logistic(weights=(1.0,), bias=-2.0)})
    scores = EbikeScorer(card, None).scores(_image(True), _found((BIKE, 0.7, 0), (RIDER, 0.6, 1)))
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-(np.log(0.7 / 0.3) - 2.0))), abs=1e-6)
    assert scores[1] == pytest.approx(0.6)  # person has no calibration in this card


def test_the_verifier_fuses_through_onnx(tmp_path: Path):
    verifier = CropVerifier(brightness_verifier(tmp_path / "v.onnx"), context=0.0)
    card = DecisionCard(verifier=VerifierCard(file="v.onnx", fusion=Logistic(weights=(1.0, 1.0), bias=0.0),
                                              context=0.0))
    scorer = EbikeScorer(card, verifier)
    bright = scorer.scores(_image(True), _found((BIKE, 0.6, 0)))[0]
    dark = scorer.scores(_image(False), _found((BIKE, 0.6, 0)))[0]
    assert bright > 0.95 and dark < 0.05  # the crop decides past the detector's 0.6


def test_a_rider_box_does_not_change_the_bike(tmp_path: Path):
    verifier = CropVerifier(brightness_verifier(tmp_path / "v.onnx"), context=0.1)
    card = DecisionCard(calibration={"ebike": Logistic(weights=(1.5,), bias=0.3)},
                        verifier=VerifierCard(file="v.onnx", fusion=Logistic(weights=(0.8, 1.2), bias=-0.1)))
    scorer = EbikeScorer(card, verifier)
    image = _image(True)
    alone = scorer.scores(image, _found((BIKE, 0.55, 0)))
    ridden = scorer.scores(image, _found((RIDER, 0.9, 1), (BIKE, 0.55, 0), (RIDER, 0.4, 1)))
    assert ridden[1] == pytest.approx(alone[0], abs=1e-6)


def test_a_card_reads_back_and_finds_its_verifier(tmp_path: Path):
    model = tmp_path / "m.onnx"
    card = DecisionCard(verifier=VerifierCard(file="m.verifier.onnx", fusion=Logistic(weights=(1.0, 1.0))),
                        operating_points={"strict": PointCard(score_threshold=0.8, min_seen_frames=5)})
    card.write(model)
    again = DecisionCard.for_model(model)
    assert again == card and again.verifier_path(model) == tmp_path / "m.verifier.onnx"
    assert DecisionCard.for_model(tmp_path / "other.onnx") is None


def test_the_crop_is_square_padded_and_sized():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :, 2] = 255  # red in BGR
    crop = crop_box(image, (150.0, 10.0, 250.0, 60.0), context=0.0)  # half outside the frame
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3)
    assert crop[CROP_SIZE // 2, 10].tolist() == [255, 0, 0]  # RGB: the red inside
    assert crop[CROP_SIZE // 2, -5].tolist() == [114, 114, 114]  # grey where the frame ends


# -- the exact bound under which the verifier cannot matter (models/vision/ebike_scorer.py) -------------------

SHIPPED = DecisionCard.for_model(DEFAULT_EBIKE_MODEL)
ON_FLOOR = (500.0, 300.0, 800.0, 700.0)  # 13 % of a 1280x720 frame


def _decisions(scores: list[float | None], threshold: float) -> list:
    """The real rule over one bike's frames (None: not detected in that frame), the door open."""
    rule = EbikeRule(EbikeParams(score_threshold=threshold, min_seen_frames=2))
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    rule.on_status("elv", ElevatorStatus(ts=t0, door="open"))
    return [rule.on_frame("elv", t0 + timedelta(seconds=i / 5), [] if s is None else [Detection(ON_FLOOR, s, "ebike")],
                          (720, 1280)) for i, s in enumerate(scores)]


@pytest.mark.parametrize("threshold", [0.6, 0.85, 0.95])
def test_scores_under_2t_minus_1_are_interchangeable_for_the_rule(threshold: float):
    """What the bound rests on: any score below 2T - 1 may stand for any other, raises, updates and the
    median the alert reports included."""
    rng = np.random.default_rng(int(threshold * 100))
    floor = 2 * threshold - 1
    for _ in range(30):
        kinds = rng.choice(["high", "mid", "low", "none"], size=60, p=[0.4, 0.15, 0.35, 0.1])
        high = rng.uniform(threshold, 1.0, 60)
        mid = rng.uniform(floor, threshold, 60)
        scores = [{"high": h, "mid": m, "low": float(rng.uniform(0, floor)), "none": None}[k]
                  for k, h, m in zip(kinds, high, mid, strict=True)]
        other = [float(rng.uniform(0, floor)) if k == "low" else s for k, s in zip(kinds, scores, strict=True)]
        assert _decisions(scores, threshold) == _decisions(other, threshold)


def test_a_score_just_over_2t_minus_1_can_raise():
    """The bound is tight: with an even count the lower middle score counts from 2T - 1 up."""
    raised = _decisions([0.99, 0.72], 0.85)  # median 0.855
    assert raised[1].changes and not _decisions([0.99, 0.68], 0.85)[1].changes


@pytest.mark.parametrize("threshold", [0.6, 0.85, 0.95])
def test_below_the_bound_no_verifier_answer_lifts_the_fused_score_to_2t_minus_1(threshold: float):
    assert SHIPPED is not None and SHIPPED.verifier is not None
    fusion = SHIPPED.verifier.fusion
    bound = verifier_moot_below(fusion, threshold)
    floor = 2 * threshold - 1
    for verifier in (0.0, 0.5, 0.999, 1.0):
        assert fusion(bound * (1 - 1e-6), verifier) < floor
    assert fusion(bound * (1 + 1e-6), 1.0) >= floor  # and the most favourable answer does just above it


def test_the_shipped_card_leaves_nothing_to_skip():
    """At the shipped operating points the bound is under the edge's box threshold: every box the scorer sees
    could be lifted over the threshold by the verifier, so it must run."""
    assert SHIPPED is not None and SHIPPED.verifier is not None
    for point in SHIPPED.operating_points.values():
        assert verifier_moot_below(SHIPPED.verifier.fusion, point.score_threshold) < ElevatorConfig().conf
