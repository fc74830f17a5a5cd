"""The training-data recipe: the split by scene, cut-outs, drawn props and cars, composites with their labels,
reproducible from a seed, every side made of its own scenes only; and the test-side negative set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.cli import main as gridwatch
from models.training.scenes import SceneSplit, held_out_originals, make_split
from models.training.synth.backgrounds import drawn_car
from models.training.synth.cutouts import cut_box, cut_product_photo
from models.training.synth.negatives import KINDS, build_negatives
from models.training.synth.props import PROPS
from models.training.synth.recipe import WHEELCHAIR_SOURCE, Recipe, build, summarise
from models.training.synth.sources import Material

TRAIN = ("Snipaste_2024-01-01_12-07-52", "Snipaste_2024-01-02_10-35-59")
VAL = ("Snipaste_2024-01-02_10-36-45",)
TEST = ("Snipaste_2024-01-01_12-07-27",)
TINY = Recipe(name="tiny", crops=1, pasted_ebikes=6, wheelchair_photos=2, pasted_wheelchairs=3, props=3, crowds=2,
              empty_cars=2, val_scale=0.5)


@pytest.fixture(scope="module")
def material() -> Material:
    return Material.load()


@pytest.fixture(scope="module")
def split(material: Material) -> SceneSplit:
    wheel = sorted(material.wheelchairs)
    return SceneSplit(TRAIN, VAL, TEST, {WHEELCHAIR_SOURCE: {"train": tuple(wheel[:4]), "val": tuple(wheel[4:6]),
                                                             "test": tuple(wheel[6:8])}})


def test_the_split_keeps_test_fixed_and_sides_apart(material: Material, tmp_path: Path):
    split = make_split(material.elevator, test=TEST, val_count=5, seed=0,
                       extra={WHEELCHAIR_SOURCE: (sorted(material.wheelchairs), 0.2, 0.2)})
    assert split.test == TEST and len(split.val) == 5 and len(split.train) == len(material.elevator) - 6
    assert not set(split.train) & set(split.val) and not (set(split.train) | set(split.val)) & set(split.test)
    wheel = split.extra[WHEELCHAIR_SOURCE]
    assert sum(len(v) for v in wheel.values()) == len(material.wheelchairs) and len(wheel["test"]) == 63
    again = SceneSplit.read(split.write(tmp_path / "split.json"))
    assert again.train == split.train and again.extra == split.extra and again.facts["seed"] == 0
    assert held_out_originals(tmp_path / "split.json") == list(TEST)
    assert make_split(material.elevator, test=TEST, val_count=5, seed=1).val != split.val
    with pytest.raises(ValueError, match="not in the set"):
        make_split(material.elevator, test=["nope"], val_count=1)


def test_an_old_split_file_reads_as_test(tmp_path: Path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"train_originals": ["a"], "val_originals": ["b"]}))
    assert SceneSplit.read(path).test == ("b",) and SceneSplit.read(path).val == ()
    assert held_out_originals(path) == ["b"]


def test_cutouts_and_drawn_things(material: Material):
    photo = material.elevator[TRAIN[0]]
    cut = cut_box(photo.load(), photo.ebikes[0], "ebike", photo.scene)
    assert cut is not None and cut.rgba.shape[2] == 4
    kept = (cut.rgba[..., 3] > 127).mean()
    assert 0.2 <= kept <= 1.0  # GrabCut kept the bike, not the whole box or nothing
    chair = cut_product_photo(cv2.imread(str(next(iter(material.wheelchairs.values())))), "wheelchair", "w")
    assert chair is None or chair.rgba[..., 3].max() == 255
    rng = np.random.default_rng(0)
    for name, draw in PROPS.items():
        sprite = draw(rng)
        assert sprite.shape[2] == 4 and (sprite[..., 3] > 0).mean() > 0.02, name
    car = drawn_car((360, 640), rng)
    assert car.image.shape == (360, 640, 3) and car.image.std() > 5 and car.people == ()


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".jpg", ".txt")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.mark.timeout(600)
def test_a_recipe_builds_labelled_sides_of_their_own_scenes(material: Material, split: SceneSplit, tmp_path: Path):
    out = build(TINY, split, tmp_path / "a", material)
    data = yaml.safe_load(out.read_text())
    assert data["names"] == {0: "ebike", 1: "person"} and data["val"] == "images/val"
    summary = summarise(tmp_path / "a" / "manifest.jsonl")
    assert summary["train"]["pasted_ebikes"]["images"] == 6 and summary["train"]["pasted_ebikes"]["ebikes"] >= 6
    assert summary["val"]["pasted_ebikes"]["images"] == 3
    assert summary["train"]["real"]["ebikes"] > 0 and "street" not in summary["val"]
    assert summary["train"]["props"]["ebikes"] == 0 and summary["train"]["wheelchair_photos"]["ebikes"] == 0
    allowed = {"train": set(TRAIN) | set(material.street) | set(split.scenes("train", WHEELCHAIR_SOURCE)),
               "val": set(VAL) | set(split.scenes("val", WHEELCHAIR_SOURCE))}
    for line in (tmp_path / "a" / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        real = {s for s in row["scenes"] if s != "drawn" and not s.startswith("drawn:")}
        assert real <= allowed[row["side"]], row  # no pixel of another side's scene
        label = tmp_path / "a" / row["image"].replace("images/", "labels/").rsplit(".", 1)[0]
        for values in (ln.split() for ln in Path(f"{label}.txt").read_text().splitlines()):
            assert values[0] in ("0", "1") and all(0.0 <= float(v) <= 1.0 for v in values[1:])
    build(TINY, split, tmp_path / "b", material)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")  # the same recipe, split and seed: the same bytes


@pytest.mark.timeout(600)
def test_negatives_come_from_the_test_side_only(material: Material, split: SceneSplit, tmp_path: Path):
    counts = build_negatives(split, tmp_path / "neg", per_kind=2, material=material)
    assert set(counts) <= set(KINDS) and counts["wheelchair_photo"] == 2 and counts["bicycle"] == 2
    allowed = set(TEST) | set(split.scenes("test", WHEELCHAIR_SOURCE))
    for line in (tmp_path / "neg" / "scenes.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert {s for s in row["scenes"] if not s.startswith("drawn")} <= allowed, row
        assert cv2.imread(str(tmp_path / "neg" / row["image"])) is not None


def test_the_commands_split_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert gridwatch(["model", "data", "split", "--out", str(tmp_path / "s.json")]) == 0
    assert "5 val, 7 test" in capsys.readouterr().out
    assert gridwatch(["model", "data", "split", "--out", str(tmp_path / "s2.json")]) == 0
    assert (tmp_path / "s.json").read_text() == (tmp_path / "s2.json").read_text()
    with pytest.raises(SystemExit, match="not a set built"):
        gridwatch(["model", "data", "show", str(tmp_path)])
    with pytest.raises(SystemExit, match="no recipe"):
        gridwatch(["model", "data", "build", "--recipe", "nope", "--split", str(tmp_path / "s.json"),
                   "--out", str(tmp_path / "x")])
