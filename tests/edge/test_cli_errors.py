"""Every known failure of a `gridwatch` command ends in one line a person can act on and a non-zero exit,
never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def camera_config(folder: Path) -> list[str]:
    """An edge whose registry names an RTSP camera's password by an environment variable that is not set."""
    write(folder / "registry.yaml", "elevators:\n  - {id: el-1, source: 'rtsp://viewer:${GRIDWATCH_TEST_UNSET_PW}@cam/s'}\n")
    return ["edge", "--config", write(folder / "edge.yaml", "registry: registry.yaml\nelevator: {enabled: false}\n")]


CASES = [
    ("dispatch without its edge token", lambda d: ["dispatch"], "no edge token: set the environment variable"),
    ("model eval, no model", lambda d: ["model", "eval", "--model", str(d / "nope.onnx")], "no model file at"),
    ("eval water, no DAIAD file", lambda d: ["eval", "water", "--daiad", str(d / "nope.csv")], "no DAIAD file at"),
    ("eval elevator, no model", lambda d: ["eval", "elevator", "--model", str(d / "nope.onnx")], "no model file"),
    ("edge, no config file", lambda d: ["edge", "--config", str(d / "nope.yaml")], "cannot read"),
    ("edge, MQTT password unset", lambda d: [
        "edge", "--config", write(d / "edge.yaml", "mqtt:\n  url: mqtt://127.0.0.1:1\n  username: edge\n"
                                  "  password_env: GRIDWATCH_TEST_UNSET_PW\n")],
     "mqtt.password_env names GRIDWATCH_TEST_UNSET_PW, which is not set"),
    ("dispatch, MQTT password unset", lambda d: [
        "dispatch", "--config", write(d / "dispatch.yaml", "listen: 127.0.0.1:0\nauth: {allow_no_auth: true}\n"
                                      "mqtt: {url: 'mqtt://127.0.0.1:1', password_env: GRIDWATCH_TEST_UNSET_PW}\n")],
     "mqtt.password_env names GRIDWATCH_TEST_UNSET_PW"),
    ("edge, camera password unset", lambda d: camera_config(d),
     "elevator el-1: its source names GRIDWATCH_TEST_UNSET_PW, which is not set"),
    ("sim water, no DAIAD file", lambda d: ["sim", "water", "--replay-daiad", str(d / "nope.csv")], "nope.csv"),
    ("sim elevator, no source", lambda d: ["sim", "elevator", "--source", str(d / "nope")], "no video, image"),
]


@pytest.mark.parametrize(("argv", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_a_known_failure_is_one_line_and_a_nonzero_exit(argv, expected: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    for name in ("GRIDWATCH_TOKEN", "GRIDWATCH_OPERATOR_TOKEN", "GRIDWATCH_TEST_UNSET_PW"):
        monkeypatch.delenv(name, raising=False)
    code = main(argv(tmp_path))
    err = capsys.readouterr().err
    assert code != 0
    assert expected in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
