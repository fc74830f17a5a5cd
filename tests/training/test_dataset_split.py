"""The split by original: no original's copies on both sides; what the model card's figures rest on."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from models.training.dataset import find_images, original_of, split_by_original, write_dataset
from models.vision.model_file import DEFAULT_EBIKE_MODEL


def _ebike_set(shared_dir: Path) -> Path:
    return shared_dir / "data/vision/ebike-elevator/yolo"


def test_augmented_copies_group_with_their_original() -> None:
    assert original_of(Path("Snipaste_2024-01-01_12-07-27GaussNoise.jpg")) == "Snipaste_2024-01-01_12-07-27"
    assert original_of(Path("Snipaste_2024-01-01_12-07-27img_reverse.jpg")) == "Snipaste_2024-01-01_12-07-27"
    assert original_of(Path("Snipaste_2024-01-01_12-07-27.png")) == "Snipaste_2024-01-01_12-07-27"
    # Frames saved by the edge for labelling group by camera: near-copies never straddle the split.
    assert original_of(Path("el-03-a_1763780000123.jpg")) == original_of(Path("el-03-a_1763790000456.jpg"))
    assert original_of(Path("el-03-a_1763780000123.jpg")) != original_of(Path("el-03-b_1763780000123.jpg"))


def test_no_original_on_both_sides(shared_dir: Path) -> None:
    images = find_images(_ebike_set(shared_dir))
    assert len(images) == 195 and all(i.label is not None for i in images)
    split = split_by_original(images, 0.25, seed=0)
    train, val = split.groups()
    assert len(train) + len(val) == 28 and len(val) == 7
    assert not set(train) & set(val)
    assert {i.original for i in split.val_originals} == set(val) and all(i.is_original for i in split.val_originals)
    # The shared set's own train/test split puts one original on both sides; ours never does.
    assert {i.original for i in split.train}.isdisjoint({i.original for i in split.val})


def test_split_is_reproducible_and_matches_the_bundled_models_card(shared_dir: Path) -> None:
    images = find_images(_ebike_set(shared_dir))
    first = split_by_original(images, 0.25, seed=0).groups()
    assert split_by_original(images, 0.25, seed=0).groups() == first
    assert split_by_original(images, 0.25, seed=1).groups() != first
    card = json.loads(DEFAULT_EBIKE_MODEL.with_suffix(".split.json").read_text())
    assert (card["train_originals"], card["val_originals"]) == (first[0], first[1])


def test_dataset_folder_for_ultralytics(shared_dir: Path, tmp_path: Path) -> None:
    split = split_by_original(find_images(_ebike_set(shared_dir)), 0.25, seed=0)
    data = yaml.safe_load(write_dataset(split, tmp_path / "ds").read_text())
    assert data["names"] == {0: "ebike", 1: "person"}
    root = Path(data["path"])
    for side, expected in (("train", split.train), ("val", split.val), ("test", split.val_originals)):
        images = sorted((root / data[side]).iterdir())
        assert len(images) == len(expected)
        labels = root / "labels" / side
        for image in images:
            text = (labels / f"{image.stem}.txt").read_text()
            assert text.endswith("\n") and all(len(line.split()) == 5 for line in text.splitlines())
