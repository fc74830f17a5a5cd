"""`gridwatch check`: every error with its field and line; good files pass."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import load_edge_config, load_registry
from ingest.yamlconf import ConfigError

REGISTRY = """\
grids:
  - {id: g1, name: 东湖网格, workers: [w1], leader: w1}
workers:
  - {id: w1, name: 张三}
buildings:
  - {id: b1, name: 3号楼, grid: g1}
meters:
  - {id: m1, building: b1, household: "301", profile: elderly_alone}
  - id: m2
    building: b1
    profile: standard
    thresholds: {no_usage_warning_h: 8}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_edge_config_and_registry_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "registry.yaml", REGISTRY)
    edge = write(tmp_path, "edge.yaml", """\
        edge_id: edge-07
        mqtt: {url: mqtt://127.0.0.1:1883, topic_prefix: grid}
        dispatch: {url: http://127.0.0.1:8600/api/v1/alerts, token_env: GRIDWATCH_TOKEN}
        registry: registry.yaml
        state_dir: var/edge-07
        """)
    assert main(["check", str(edge)]) == 0
    assert "OK" in capsys.readouterr().out
    config = load_edge_config(edge)
    assert config.registry == tmp_path / "registry.yaml"
    assert config.state_dir == tmp_path / "var/edge-07"
    registry = load_registry(config.registry)
    assert registry.place_of_meter("m1") == ("b1", "g1")
    assert config.water.thresholds("standard", registry.meter("m2").thresholds).no_usage_warning_h == 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("edge_id: e1\nmqtt:\n  url: http://x\n", ["edge.yaml:3: mqtt.url"]),
        ("edge_id: e1\nmqtt:\n  keepalive_s: 1\n  prot: 5\n",
         ["edge.yaml:3: mqtt.keepalive_s", "edge.yaml:4: mqtt.prot"]),
        ("edge_id: e1\ndispatch:\n  timeout_s: -1\n", ["edge.yaml:3: dispatch.timeout_s"]),
        ("edge_id: 'bad id'\n", ["edge.yaml:1: edge_id"]),
        ("timeseries:\n  kind: influxdb\n", ["edge.yaml:2: timeseries", "needs url"]),
        ("water:\n  profiles:\n    elderly_alone: {no_usage_warning_h: -3}\n",
         ["edge.yaml:3: water.profiles", "elderly_alone.no_usage_warning_h"]),
        ("edge_id: [unclosed\n", ["edge.yaml:2: not valid YAML"]),
    ],
)
def test_bad_edge_config_names_field_and_line(tmp_path: Path, text: str, expected: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "edge.yaml", text)
    assert main(["check", str(path), "--kind", "edge"]) == 1
    err = capsys.readouterr().err
    for fragment in expected:
        assert fragment in err, err


def test_registry_errors_every_one_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, "registry.yaml", """\
        grids:
          - {id: g1, workers: [w9]}
        workers: []
        buildings:
          - {id: b1, grid: g1}
        meters:
          - {id: m1, building: b1, profile: elderly}
          - id: m2
            building: b1
            thresholds:
              no_usage_warning_h: 0
              nonsense: 3
        """)
    with pytest.raises(ConfigError) as info:
        load_registry(path)
    errors = "\n".join(info.value.errors)
    assert "registry.yaml:7: meters.0.profile" in errors


def test_registry_cross_references_resolve(tmp_path: Path) -> None:
    path = write(tmp_path, "registry.yaml", """\
        grids:
          - {id: g1, workers: [w9]}
        buildings:
          - {id: b1, grid: g2}
          - {id: b1}
        meters:
          - {id: m1, building: b7}
        """)
    with pytest.raises(ConfigError) as info:
        load_registry(path)
    errors = "\n".join(info.value.errors)
    for problem in ("unknown worker 'w9'", "unknown grid 'g2'", "id 'b1' appears 2 times", "unknown building 'b7'"):
        assert problem in errors, errors


def test_threshold_overrides_are_checked_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, "registry.yaml", """\
        meters:
          - id: m2
            thresholds:
              no_usage_warning_h: 0
              nonsense: 3
        """)
    with pytest.raises(ConfigError) as info:
        load_registry(path)
    errors = info.value.errors
    assert any("registry.yaml:4: meters.0.thresholds.no_usage_warning_h" in e for e in errors), errors
    assert any("registry.yaml:5: meters.0.thresholds.nonsense" in e for e in errors), errors


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["edge.yaml", "dispatch.yaml", "registry.yaml"])
def test_deploy_examples_are_valid(name: str) -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "examples" / name
    assert main(["check", str(example)]) == 0


@pytest.mark.parametrize("command", ["edge", "dispatch"])
def test_services_refuse_a_bad_config_with_its_line(tmp_path: Path, command: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "bad.yaml", "state_dir: var\nmqtt:\n  url: ftp://nowhere\n")
    assert main([command, "--config", str(path)]) == 1
    assert "bad.yaml:3: mqtt.url" in capsys.readouterr().err


EDGE_WITH_ELEVATOR = """\
edge_id: e1
registry: registry.yaml
elevator:
  model: {model}
  ebike:
    ebike_classes: {classes}
"""


@pytest.mark.parametrize(
    ("model", "classes", "expected"),
    [
        ("models/nope.onnx", "[ebike]", ["edge.yaml:4: elevator.model: no model file at"]),
        ("not-a-model.onnx", "[ebike]", ["edge.yaml:4: elevator.model: cannot load"]),
        ("BUNDLED", "[ebike, scooter]", ["edge.yaml:6: elevator.ebike.ebike_classes: ['scooter'] not among",
                                         "'ebike', 'person'"]),
    ],
)
def test_check_loads_the_elevator_model_and_its_classes(
    tmp_path: Path, model: str, classes: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from models.vision.model_file import DEFAULT_EBIKE_MODEL

    write(tmp_path, "registry.yaml", REGISTRY)
    (tmp_path / "not-a-model.onnx").write_bytes(b"\x08\x01garbage" * 10)
    path = write(tmp_path, "edge.yaml", EDGE_WITH_ELEVATOR.format(
        model=DEFAULT_EBIKE_MODEL if model == "BUNDLED" else model, classes=classes))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    for fragment in expected:
        assert fragment in err, err
    # The same config with the bundled model and its own class passes; so does one with the elevator off.
    write(tmp_path, "edge.yaml", EDGE_WITH_ELEVATOR.format(model=DEFAULT_EBIKE_MODEL, classes="[ebike]"))
    assert main(["check", str(path)]) == 0
    write(tmp_path, "edge.yaml", f"elevator:\n  enabled: false\n  model: {model}\n")
    assert main(["check", str(path)]) == 0


@pytest.mark.parametrize(
    ("zone", "line", "message"),
    [
        ("[[0.1, 0.2], [0.9, 0.2]]", 4, "a zone needs at least 3 points (x, y), got 2"),
        ("[]", 4, "a zone needs at least 3 points"),
        ("\n      - [0.1, 0.2]\n      - [1.2, 0.4]\n      - [0.5, -0.1]", 5, "outside: [(1.2, 0.4), (0.5, -0.1)]"),
        ("[[0.1, 0.2], [0.9]]", 4, "elevators.1.zone.1"),
    ],
)
def test_a_bad_elevator_zone_is_an_error_with_its_line(
    tmp_path: Path, zone: str, line: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "registry.yaml", "elevators:\n  - {id: e1, zone: [[0, 0.3], [1, 0.3], [0.5, 1]]}\n"
                                            f"  - id: e2\n    zone: {zone}\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"registry.yaml:{line}: elevators.1.zone" in err and message in err, err
    assert "elevators.0" not in err, "a good zone passes"


def test_check_reads_the_models_decision_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from models.vision.calibration import Logistic
    from models.vision.decision import DecisionCard, PointCard, VerifierCard
    from models.vision.model_file import DEFAULT_EBIKE_MODEL

    write(tmp_path, "registry.yaml", REGISTRY)
    model = tmp_path / "m.onnx"
    shutil.copy(DEFAULT_EBIKE_MODEL, model)
    DecisionCard(operating_points={"strict": PointCard(score_threshold=0.8, min_seen_frames=5)},
                 verifier=VerifierCard(file="m.verifier.onnx", fusion=Logistic(weights=(1.0, 1.0)))).write(model)
    path = write(tmp_path, "edge.yaml", EDGE_WITH_ELEVATOR.format(model=model, classes="[ebike]")
                 + "    operating_point: balanced\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "verifier: no file at" in err and "m.verifier.onnx" in err
    assert "edge.yaml:7: elevator.ebike.operating_point: operating point 'balanced' is not in" in err
    (tmp_path / "m.verifier.onnx").write_bytes(b"")
    write(tmp_path, "edge.yaml", EDGE_WITH_ELEVATOR.format(model=model, classes="[ebike]")
          + "    operating_point: strict\n")
    assert main(["check", str(path)]) == 0
    (tmp_path / "m.decision.json").write_text('{"operating_points": {"loose": {}}}')
    assert main(["check", str(path)]) == 1
    assert "not a decision card" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("dispatch.yaml", "listen: 127.0.0.1:86000\n",
         ["dispatch.yaml:1: listen: Value error, port 86000 is out of range"]),
        ("edge.yaml", "edge_id: e1\nhealth_listen: 0.0.0.0:70000\n", ["edge.yaml:2: health_listen", "out of range"]),
        ("edge.yaml", "edge_id: e1\ndispatch:\n  url: 127.0.0.1:8600/api/v1/alerts\n",
         ["edge.yaml:3: dispatch.url", "has no scheme"]),
        ("edge.yaml", "edge_id: e1\ndispatch:\n  url: ftp://h/api/v1/alerts\n",
         ["edge.yaml:3: dispatch.url", "scheme ftp:// is not one of http://, https://"]),
        ("edge.yaml", "edge_id: e1\nmqtt:\n  url: mqtt://h:99999\n", ["edge.yaml:3: mqtt.url", "out of range"]),
        ("edge.yaml", "edge_id: e1\ntimeseries:\n  kind: influxdb\n  url: influxdb:8086\n",
         ["edge.yaml:4: timeseries.url", "no scheme"]),
        ("edge.yaml", "", ["edge.yaml:1: (document): the file is empty"]),
        ("edge.yaml", "# only a comment\n", ["the file is empty"]),
        ("edge.yaml", "edge_id: e1\nmqtt:\n  topic_prefx: grid\n",
         ["edge.yaml:3: mqtt.topic_prefx: unknown key 'topic_prefx'; did you mean 'topic_prefix'?"]),
        ("edge.yaml", "edge_id: e1\nelevator:\n  ebike:\n    operting_point: balanced\n",
         ["edge.yaml:4: elevator.ebike.operting_point", "did you mean 'operating_point'?"]),
        ("dispatch.yaml", "listen: 127.0.0.1:8600\nauth:\n  edge_token_evn: X\n", ["did you mean 'edge_token_env'?"]),
        ("registry.yaml", "grids: []\nbuildngs:\n  - {id: b1}\n",
         ["registry.yaml:2: buildngs: unknown key 'buildngs'; did you mean 'buildings'?"]),
        ("registry.yaml", "meters:\n  - id: m1\n    thresholds: {no_usage_warnig_h: 8}\n",
         ["registry.yaml:3: meters.0.thresholds.no_usage_warnig_h", "did you mean 'no_usage_warning_h'?"]),
        ("registry.yaml", "elevators:\n  - id: el-1\n    source: rtsp://admin:hunter2@cam.local/stream\n",
         ["registry.yaml:3: elevators.0.source", "a password written in the registry: name it instead"]),
        ("registry.yaml", "elevators:\n  - id: el-1\n    source: rtps://cam.local/stream\n",
         ["registry.yaml:3: elevators.0.source", "unknown camera scheme rtps://; did you mean rtsp:// or rtsps://?"]),
    ],
)
def test_check_catches_what_a_deploying_engineer_gets_wrong(tmp_path: Path, name: str, text: str,
                                                           expected: list[str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, name, text)
    kind = name.removesuffix(".yaml")
    assert main(["check", str(path), "--kind", kind]) == 1
    err = capsys.readouterr().err
    for fragment in expected:
        assert fragment in err, err


def test_cross_references_each_at_its_own_line_and_every_one_counted(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "registry.yaml", """\
        grids:
          - {id: g1, workers: [w1]}
        workers:
          - {id: w1}
        buildings:
          - {id: b1, grid: g1}
          - id: b2
            name: 5号楼
            grid: g9
        meters:
          - {id: m1, building: b1}
          - {id: m2, building: b7}
        """)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(e.endswith("registry.yaml:9: buildings.1.grid: building 'b2': unknown grid 'g9'") for e in err), err
    assert any(e.endswith("registry.yaml:12: meters.1.building: 'm2': unknown building 'b7'") for e in err), err
    assert err[-1].endswith("registry.yaml: 2 error(s)"), err


def test_a_good_camera_source_passes(tmp_path: Path) -> None:
    path = write(tmp_path, "registry.yaml", """\
        elevators:
          - {id: el-1, source: "rtsp://cam.local:554/stream1"}
          - {id: el-4, source: "rtsp://viewer:${CAM_EL4_PASSWORD}@cam4.local:554/stream1"}
          - {id: el-2, source: mqtt}
          - {id: el-3, source: /var/footage/car3.mp4}
        """)
    assert main(["check", str(path)]) == 0
