"""`gridwatch model review DIR --terminal`, the real command driven through its stdin: accept, delete a box,
change a class, nothing here, skip, back, resume; and bad input told in one line, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.training.test_review_flywheel import decisions, label_rows, write_flywheel

GRIDWATCH = str(Path(sys.executable).parent / "gridwatch")


def review(root: Path, typed: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRIDWATCH, "model", "review", str(root), "--terminal", *extra], input=typed,
                          capture_output=True, text=True, timeout=60)


def test_each_decision_typed_is_written_and_the_next_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    stems = write_flywheel(root, {"lift-a": 6})
    model = [label_rows(root / "labels" / f"{s}.txt") for s in stems]
    ebike, person = model[0]

    typed = "\n".join([
        "",              # 1: accept as it is
        "d 1", "",       # 2: the e-bike box was wrong: delete it, then save
        "c 2 ebike", "a",  # 3: the "person" is a second e-bike (by name)
        "d 7",           # 4: no such box: said, nothing changes
        "c 1 2", "b",    # 4: a class by number, then back without saving ...
        "",              # 3 again: keep the saved labels
        "n",             # 4: nothing here after all
        "s",             # 5: skip
    ]) + "\n"
    run = review(root, typed)
    assert run.returncode == 0, run.stderr
    assert "no box '7': boxes are 1-2" in run.stdout
    assert f"frame 1 of 6: {stems[0]} (unreviewed)" in run.stdout
    assert "4 of 6 reviewed, 1 skipped" in run.stdout

    labels = [label_rows(root / "labels" / f"{s}.txt") for s in stems]
    assert labels[0] == model[0]
    assert labels[1] == [person]
    assert labels[2] == [ebike, [0.0, *person[1:]]]
    assert labels[3] == []
    assert labels[4] == model[4] and labels[5] == model[5]
    assert all((root / "prelabels" / f"{s}.txt").is_file() for s in stems[:4])
    assert not (root / "prelabels" / f"{stems[4]}.txt").exists()
    actions = [(r["stem"], r["action"], r["via"]) for r in decisions(root)]
    assert actions == [(stems[0], "accept", "terminal"), (stems[1], "correct", "terminal"),
                       (stems[2], "correct", "terminal"), (stems[2], "accept", "terminal"),
                       (stems[3], "empty", "terminal"), (stems[4], "skip", "terminal")]

    again = review(root, "q\n")
    assert again.returncode == 0
    assert f"frame 6 of 6: {stems[5]} (unreviewed) · 4 of 6 reviewed, 1 skipped" in again.stdout


def test_a_frame_that_cannot_be_labelled_is_passed_over_with_its_reason(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    stems = write_flywheel(root, {"lift-a": 3})
    (root / "images" / f"{stems[0]}.jpg").write_bytes(b"\xff\xd8 not a jpeg at all")
    (root / "labels" / f"{stems[1]}.txt").write_text("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.1 0.1\n")
    run = review(root, "n\n")
    assert run.returncode == 0 and "Traceback" not in run.stdout + run.stderr
    assert (f"frame 1 of 3: cannot be labelled: images/{stems[0]}.jpg: not a readable image (corrupt or truncated?)"
            in run.stdout)
    assert (f"frame 2 of 3: cannot be labelled: labels/{stems[1]}.txt line 2: class 5 is not in data.yaml's names "
            "(0-1: ebike, person)" in run.stdout)
    assert [(r["stem"], r["action"]) for r in decisions(root)] == [(stems[2], "empty")]
    assert (root / "labels" / f"{stems[1]}.txt").read_text().startswith("0 0.5"), "the bad file is left as it was"


def test_a_folder_without_data_yaml_is_one_line_on_stderr(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    write_flywheel(root, {"lift-a": 1})
    (root / "data.yaml").unlink()
    for extra in (("--terminal",), ("--port", "0")):
        run = subprocess.run([GRIDWATCH, "model", "review", str(root), *extra], capture_output=True, text=True,
                             timeout=60)
        assert run.returncode == 1 and run.stdout == ""
        assert run.stderr == (f"gridwatch model review: error: {root}/data.yaml not found: not a flywheel folder "
                              "(images/, labels/, data.yaml with names)\n")


def test_a_taken_port_is_one_line_on_stderr(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    write_flywheel(root, {"lift-a": 1})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = subprocess.run([GRIDWATCH, "model", "review", str(root), "--port", str(port)], capture_output=True,
                             text=True, timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"gridwatch model review: error: cannot listen on 127.0.0.1:{port}: ")
    assert run.stderr.count("\n") == 1
