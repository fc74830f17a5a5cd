"""`gridwatch model merge DIR... --out LABELLED` on folders the edge's UnsureFrames wrote: reviewed frames only,
names that keep a camera's frames together, class lists checked, nothing added twice, a summary of what changed
against the pre-labels; bad input stops it in one line with nothing written. And a trainer takes the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from models.training.dataset import find_images, original_of, split_by_original
from models.training.review.folder import FlywheelFolder
from tests.training.test_review_flywheel import label_rows, write_flywheel


def review_all(root: Path, plan: list[str]) -> list[str]:
    """One decision per frame in order: accept, drop-ebike (a correction), empty, skip, or '-' (not reviewed)."""
    folder = FlywheelFolder(root)
    frames = folder.frames()
    for frame, what in zip(frames, plan, strict=True):
        boxes = folder.boxes(frame)
        if what == "accept":
            folder.decide(frame, "save", boxes)
        elif what == "drop-ebike":
            folder.decide(frame, "save", [b for b in boxes if b.cls != 0])
        elif what in ("empty", "skip"):
            folder.decide(frame, what)
    return [f.stem for f in frames]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_reviewed_frames_of_two_edges_merge_into_one_folder_and_a_second_merge_adds_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "edge-01", tmp_path / "edge-02"
    write_flywheel(a, {"lift-a": 3}, seed=0)
    write_flywheel(b, {"lift-b": 3}, seed=50)
    a_stems = review_all(a, ["accept", "drop-ebike", "skip"])
    b_stems = review_all(b, ["empty", "accept", "-"])
    out = tmp_path / "labelled"

    assert main(["model", "merge", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"merged 2 folders into {out}: 4 reviewed frames, 4 new, 0 with changed labels, 0 already there " \
           f"(4 frames in {out})" in printed
    assert "left out: 1 skipped, 1 not reviewed yet" in printed
    assert "boxes in the reviewed frames: ebike 2, person 3; 1 frames with nothing in them" in printed
    assert "against the model's pre-labels: 2 of 4 frames corrected; boxes 5 kept, 0 class changed, " \
           "3 deleted, 0 added" in printed

    merged = sorted(p.stem for p in (out / "images").iterdir())
    assert merged == sorted([*a_stems[:2], *b_stems[:2]])
    for stem in a_stems[:2]:
        assert (out / "images" / f"{stem}.jpg").read_bytes() == (a / "images" / f"{stem}.jpg").read_bytes()
        assert label_rows(out / "labels" / f"{stem}.txt") == label_rows(a / "labels" / f"{stem}.txt")
    assert (out / "labels" / f"{b_stems[0]}.txt").read_text() == ""
    assert label_rows(out / "prelabels" / f"{a_stems[1]}.txt") == label_rows(a / "prelabels" / f"{a_stems[1]}.txt")
    assert yaml.safe_load((out / "data.yaml").read_text())["names"] == {0: "ebike", 1: "person"}

    # A trainer groups a camera's frames: the split is one of cameras, never of frames.
    images = find_images(out)
    assert sorted({original_of(i.image) for i in images}) == ["camera:lift-a", "camera:lift-b"]
    split = split_by_original(images, val_share=0.5)
    assert {original_of(i.image) for i in split.train}.isdisjoint({original_of(i.image) for i in split.val})

    before = snapshot(out)
    assert main(["model", "merge", str(a), str(b), "--out", str(out)]) == 0
    assert "4 reviewed frames, 0 new, 0 with changed labels, 4 already there (4 frames in" in capsys.readouterr().out
    assert snapshot(out) == before

    # A frame looked at again after the merge: the next merge carries the new labels, nothing else.
    folder = FlywheelFolder(a)
    folder.decide(folder.frame(a_stems[0]), "empty")
    folder.decide(folder.frame(a_stems[2]), "skip")
    assert main(["model", "merge", str(a), str(b), "--out", str(out)]) == 0
    assert "0 new, 1 with changed labels, 3 already there" in capsys.readouterr().out
    assert (out / "labels" / f"{a_stems[0]}.txt").read_text() == ""
    assert label_rows(out / "prelabels" / f"{a_stems[0]}.txt") == label_rows(a / "prelabels" / f"{a_stems[0]}.txt")


def test_one_camera_name_on_two_edges_at_one_millisecond_keeps_both_frames_in_its_group(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "edge-01", tmp_path / "edge-02"
    (stem,) = write_flywheel(a, {"lift-1": 1}, seed=0)
    assert write_flywheel(b, {"lift-1": 1}, seed=7) == [stem]  # another building's "lift-1", same instant
    review_all(a, ["accept"])
    review_all(b, ["accept"])
    out = tmp_path / "labelled"
    assert main(["model", "merge", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    renamed = f"lift-1_{int(stem.rsplit('_', 1)[1]) + 1}"
    assert f"{b}/images/{stem}.jpg was a different frame than the one of that name already there: " \
           f"merged as {renamed}.jpg" in printed
    assert (out / "images" / f"{renamed}.jpg").read_bytes() == (b / "images" / f"{stem}.jpg").read_bytes()
    assert {original_of(i.image) for i in find_images(out)} == {"camera:lift-1"}
    assert main(["model", "merge", str(a), str(b), "--out", str(out)]) == 0
    assert "0 new, 0 with changed labels, 2 already there (2 frames in" in capsys.readouterr().out


def test_class_lists_that_differ_stop_the_merge_in_one_line(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "edge-01", tmp_path / "edge-02"
    write_flywheel(a, {"lift-a": 1})
    write_flywheel(b, {"lift-b": 1}, names=("person", "ebike"))
    review_all(a, ["accept"])
    review_all(b, ["accept"])
    out = tmp_path / "labelled"
    assert main(["model", "merge", str(a), str(b), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == (f"gridwatch model merge: error: class lists differ: {a}/data.yaml has ['ebike', 'person'], "
                   f"{b}/data.yaml has ['person', 'ebike']: merge folders of one model\n")
    assert not out.exists()

    # Nor may a folder join a labelled folder of other classes.
    assert main(["model", "merge", str(b), "--out", str(out)]) == 0
    assert main(["model", "merge", str(a), "--out", str(out)]) == 1
    assert "class lists differ" in capsys.readouterr().err


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda root, stem: (root / "images" / f"{stem}.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken"),
     "{root}: images/{stem}.jpg: not a readable image (corrupt or truncated?)"),
    (lambda root, stem: (root / "images" / f"{stem}.jpg").write_bytes(
        (root / "images" / f"{stem}.jpg").read_bytes()[:-500]),
     "{root}: images/{stem}.jpg: not a readable image (corrupt or truncated?)"),
    (lambda root, stem: (root / "labels" / f"{stem}.txt").write_text("2 0.5 0.5 0.1 0.1\n"),
     "{root}: labels/{stem}.txt line 1: class 2 is not in data.yaml's names (0-1: ebike, person)"),
    (lambda root, stem: (root / "labels" / f"{stem}.txt").write_text("0 0.5 0.5 0.1\n"),
     "{root}: labels/{stem}.txt line 1: expected 'class cx cy w h', got '0 0.5 0.5 0.1'"),
    (lambda root, stem: (root / "data.yaml").unlink(),
     "{root}/data.yaml not found: not a flywheel folder (images/, labels/, data.yaml with names)"),
    (lambda root, stem: (root / "data.yaml").write_text("names: [ebike\n"),
     "{root}/data.yaml: cannot read it as YAML: "),
])
def test_bad_input_stops_the_merge_in_one_line_with_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], spoil, message: str) -> None:
    root = tmp_path / "edge-01"
    stems = review_all_written(root)
    spoil(root, stems[0])
    out = tmp_path / "labelled"
    assert main(["model", "merge", str(root), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gridwatch model merge: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message.format(root=root, stem=stems[0]) in err
    assert not out.exists(), "nothing is written when anything is wrong"


def review_all_written(root: Path) -> list[str]:
    write_flywheel(root, {"lift-a": 2})
    return review_all(root, ["accept", "accept"])


def test_the_output_may_not_be_one_of_the_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "edge-01"
    review_all_written(root)
    assert main(["model", "merge", str(root), "--out", str(root)]) == 1
    assert "is one of the folders to merge" in capsys.readouterr().err


@pytest.mark.timeout(600)
def test_a_trainer_takes_the_merged_folder(yolo_env: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "edge-01", tmp_path / "edge-02"
    write_flywheel(a, {"lift-a": 2}, seed=0)
    write_flywheel(b, {"lift-b": 2}, seed=50)
    review_all(a, ["accept", "drop-ebike"])
    review_all(b, ["accept", "empty"])
    out = tmp_path / "labelled"
    assert main(["model", "merge", str(a), str(b), "--out", str(out)]) == 0
    run = tmp_path / "run"
    assert main(["model", "train", "--data", str(out), "--out", str(run), "--epochs", "1", "--imgsz", "64",
                 "--batch", "4", "--val-share", "0.5", "--device", "cpu", "--workers", "0",
                 "--background-crops", "0"]) == 0
    assert "split by original: 1 train (2 images), 1 held out (2 images" in capsys.readouterr().out
    split = json.loads((run / "split.json").read_text())
    assert sorted(split["train_originals"] + split["val_originals"]) == ["camera:lift-a", "camera:lift-b"]
    assert (run / "weights" / "last.pt").is_file()
