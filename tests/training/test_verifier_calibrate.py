"""The decision chain a city retrains with: a crop verifier trained on a built set, a decision card fitted on
its val side, and the edge's chain (and `gridwatch eval elevator`) using both."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge.cli import main as gridwatch
from edge.elevator.config import ElevatorConfig
from edge.elevator.model import load_chain
from models.training.scenes import SceneSplit
from models.training.synth.recipe import WHEELCHAIR_SOURCE, Recipe, build
from models.training.synth.sources import Material
from models.vision.decision import DecisionCard
from models.vision.model_file import DEFAULT_EBIKE_MODEL

TRAIN = ("Snipaste_2024-01-01_12-07-52",)
VAL = ("Snipaste_2024-01-02_10-36-45",)
TEST = ("Snipaste_2024-01-01_12-07-27",)


@pytest.mark.timeout(900)
def test_verifier_card_and_chain(yolo_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    material = Material.load()
    wheel = sorted(material.wheelchairs)
    split = SceneSplit(TRAIN, VAL, TEST, {WHEELCHAIR_SOURCE: {"train": tuple(wheel[:3]), "val": tuple(wheel[3:5]),
                                                              "test": tuple(wheel[5:6])}})
    recipe = Recipe(name="t", crops=0, pasted_ebikes=8, wheelchair_photos=3, pasted_wheelchairs=3, props=3,
                    crowds=0, empty_cars=2, val_scale=0.5)
    data = build(recipe, split, tmp_path / "data", material).parent
    model = tmp_path / "model" / "ebike.onnx"
    model.parent.mkdir()
    shutil.copy(DEFAULT_EBIKE_MODEL, model)

    assert gridwatch(["model", "verifier", "--data", str(data), "--detector", str(model), "--out",
                      str(model.with_suffix(".verifier.onnx")), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "verifier crops: train {'ebike':" in out and "val ROC AUC" in out

    assert gridwatch(["model", "calibrate", "--model", str(model), "--verifier",
                      str(model.with_suffix(".verifier.onnx")), "--data", str(data), "--ride-s", "3",
                      "--positives-per-original", "1", "--negative-hours", "0.002", "--per-kind", "1",
                      "--composites", "2"]) == 0
    out = capsys.readouterr().out
    assert "strict: median calibrated score >=" in out and "balanced:" in out
    card = DecisionCard.for_model(model)
    assert card is not None and card.verifier is not None and card.verifier.file == "ebike.verifier.onnx"
    assert set(card.operating_points) == {"strict", "balanced"} and "val side" in card.chosen_on
    strict = card.operating_points["strict"]
    assert strict.val["false_alerts"] == 0 or strict.val["false_alerts"] == min(
        row["false_alerts"] for row in json.loads(model.with_suffix(".decision.grid.json").read_text()))

    chain = load_chain(ElevatorConfig(model=model))
    assert chain.scorer.verifier is not None and chain.scorer.calibrated
    assert chain.params.score_threshold == strict.score_threshold
    assert chain.params.min_seen_frames == strict.min_seen_frames
    balanced = load_chain(ElevatorConfig.model_validate({"model": str(model),
                                                         "ebike": {"operating_point": "balanced"}}))
    assert balanced.params.score_threshold == card.operating_points["balanced"].score_threshold
    plain = load_chain(ElevatorConfig(model=model, verify=False))
    assert plain.scorer.verifier is None and plain.scorer.calibrated

    assert gridwatch(["eval", "elevator", "--model", str(model), "--originals", "1", "--positives-per-original",
                      "1", "--ride-s", "3", "--negative-hours", "0.002", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rule"]["calibrated"] and report["rule"]["verifier"]
    assert report["rule"]["operating_point"] == "strict"
