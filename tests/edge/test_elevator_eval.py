"""`gridwatch eval elevator`: the real bundled model and the real EbikeRule on a short run of held-out rides.

Only the report's structure and sanity are asserted: the model will be replaced by a better one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from edge.cli import main as gridwatch

# The first two held-out originals give no crop clear of the bike; the third does.
SHORT = ["--originals", "3", "--positives-per-original", "1", "--ride-s", "5", "--negative-hours", "0.006"]


def _yolo(shared_dir: Path) -> str:
    return str(shared_dir / "data" / "vision" / "ebike-elevator" / "yolo")


def test_eval_scores_held_out_rides_as_json(shared_dir: Path, capsys):
    assert gridwatch(["eval", "elevator", "--source", _yolo(shared_dir), *SHORT, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    split = json.loads((Path(report["split"])).read_text())
    assert report["split"].endswith("ebike.split.json")
    assert len(report["originals"]) == 3 and set(report["originals"]) <= set(split["test_originals"])
    positive = report["positive"]
    assert positive["rides"] == 3
    # Snipaste_2024-01-01_12-07-27: two e-bikes in plain view for 5 s; any usable model catches it.
    assert report["per_original"]["Snipaste_2024-01-01_12-07-27"].get("caught") == 1
    assert positive["recall"] == round(positive["caught"] / 3, 3) and positive["caught"] >= 1
    delay = report["time_to_alert_s"]
    assert 0 <= delay["p50"] <= delay["p90"] <= delay["max"] <= 5.0
    negative = report["negative"]
    assert negative["crop"]["rides"] >= 1 and negative["inpaint"]["rides"] >= 1
    total = negative["total"]
    assert math.isclose(total["hours"], negative["crop"]["hours"] + negative["inpaint"]["hours"], abs_tol=0.002)
    assert total["hours"] >= 0.006 and total["per_camera_hour"] >= 0
    assert total["false_alerts"] == negative["crop"]["false_alerts"] + negative["inpaint"]["false_alerts"]
    frames = report["frames"]
    for name in ("detector", "rule"):
        c = frames[name]
        assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == frames["scored"]
        assert c["tp"] > 0  # the bike is seen in some frames
    assert report["ms_per_frame"] > 0


def test_eval_prints_its_figures(shared_dir: Path, capsys):
    code = gridwatch(["eval", "elevator", "--source", _yolo(shared_dir), "--originals", "1",
                      "--positives-per-original", "1", "--ride-s", "3", "--negative-hours", "0.002"])
    out = capsys.readouterr().out
    assert code == 0
    for figure in ("recall (episodes): ", "time to alert", "per camera-hour", "clean crops", "bikes painted out",
                   "frames, detector:", "frames, rule:", "held out by", "Snipaste_2024-01-01_12-07-27"):
        assert figure in out, figure


def test_folders_of_scenes_are_played_and_reported_per_scene(shared_dir: Path, tmp_path: Path, capsys):
    import shutil

    import cv2
    import numpy as np

    from models.training.synth.backgrounds import drawn_car

    negatives = tmp_path / "negatives"
    (negatives / "empty_car").mkdir(parents=True)
    cv2.imwrite(str(negatives / "empty_car" / "car.jpg"), drawn_car((360, 640), np.random.default_rng(0)).image)
    sequence = negatives / "corridor" / "cam-7"
    sequence.mkdir(parents=True)
    (sequence / "SEQUENCE").touch()
    for i in range(4):
        cv2.imwrite(str(sequence / f"{i:03d}.jpg"), drawn_car((360, 640), np.random.default_rng(1)).image)
    positives = tmp_path / "positives"
    positives.mkdir()
    shutil.copy(shared_dir / "data/vision/ebike-elevator/originals/Snipaste_2024-01-01_12-07-27.png", positives)

    assert gridwatch(["eval", "elevator", "--positives-per-original", "0", "--negative-hours", "0", "--ride-s", "4",
                      "--negatives", str(negatives), "--positives", str(positives), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["scene"]: r for r in report["scenes"]["rows"]}
    assert set(rows) == {"empty_car/car.jpg", "corridor/cam-7", "Snipaste_2024-01-01_12-07-27.png"}
    assert rows["corridor/cam-7"]["kind"] == "corridor" and not rows["corridor/cam-7"]["ebike"]
    assert rows["Snipaste_2024-01-01_12-07-27.png"]["ebike"] and rows["Snipaste_2024-01-01_12-07-27.png"]["alerts"]
    scene = report["negative"]["scene"]
    assert scene["rides"] == 2 and scene["false_holds"] == sum(r["holds"] for r in rows.values() if not r["ebike"])
    assert report["positive"]["rides"] == 1 and report["positive"]["caught"] == 1
    assert report["frames"]["scored"] == 20 + 4 + 20  # 4 s at 5 fps per still; a sequence plays its frames once

    assert gridwatch(["eval", "elevator", "--positives-per-original", "0", "--negative-hours", "0", "--ride-s", "4",
                      "--negatives", str(negatives)]) == 0
    out = capsys.readouterr().out
    assert "false alerts, folder scenes:" in out and "scenes without e-bike: corridor: 0/1 with an alert" in out
