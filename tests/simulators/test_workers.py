"""The grid-worker simulator: its delay model by the numbers, its CLI, and its phones against a real
Mosquitto and a real dispatch endpoint walking an alert through the loop."""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dispatch.config import DispatchConfig
from dispatch.server import ServerHandle, start_app_in_thread, start_in_thread
from dispatch.sla import SeverityDeadlines, SlaConfig
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from ingest.registry import Registry
from ingest.wire.alert import Alert, episode_id
from ingest.wire.dispatch import DispatchInfo, NotifyMessage
from simulators.workers import behaviour, cli
from simulators.workers.behaviour import plan
from simulators.workers.simulator import WorkerSimulator, base_url

DRAWS = 4000


def draws(alert_type: str, severity: str, seed: int = 1, ignore: float = 0.0) -> list[behaviour.Plan]:
    rng = random.Random(seed)
    return [plan(alert_type, severity, rng, ignore=ignore) for _ in range(DRAWS)]


def quantile(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))]


# (alert type, severity, step, median range s, p95 range s): minute-level response, hour-level disposal.
DELAY_CASES = [
    ("water.no_usage", "warning", "accept_s", (100, 145), (480, 720)),
    ("water.no_usage", "critical", "accept_s", (50, 72), (240, 360)),
    ("water.no_usage", "info", "accept_s", (150, 215), (720, 1080)),
    ("water.no_usage", "warning", "arrive_s", (640, 800), (1500, 2100)),
    ("water.no_usage", "critical", "arrive_s", (480, 600), (1100, 1600)),
    ("water.no_usage", "warning", "resolve_s", (1350, 1650), (3000, 4300)),
    ("water.continuous_flow", "critical", "resolve_s", (1350, 1650), (3000, 4300)),
    ("elevator.ebike", "critical", "resolve_s", (540, 660), (1250, 1800)),
]


@pytest.mark.parametrize(("alert_type", "severity", "step", "median_range", "p95_range"), DELAY_CASES)
def test_delays_have_the_intended_median_and_tail(alert_type: str, severity: str, step: str,
                                                  median_range: tuple[float, float],
                                                  p95_range: tuple[float, float]) -> None:
    values = [getattr(p, step) for p in draws(alert_type, severity)]
    assert median_range[0] <= statistics.median(values) <= median_range[1]
    assert p95_range[0] <= quantile(values, 0.95) <= p95_range[1]
    assert min(values) >= 5.0  # nobody answers in no time


def test_critical_alerts_are_accepted_faster_than_warnings() -> None:
    critical = statistics.median(p.accept_s for p in draws("elevator.ebike", "critical"))
    warning = statistics.median(p.accept_s for p in draws("elevator.ebike", "warning"))
    assert critical < 0.7 * warning


@pytest.mark.parametrize("ignore", [0.0, 0.1, 0.5, 1.0])
def test_the_ignore_rate_is_honoured(ignore: float) -> None:
    silent = sum(not p.answers for p in draws("water.no_usage", "warning", ignore=ignore)) / DRAWS
    assert abs(silent - ignore) < 0.025
    assert all(p.steps() == [] for p in draws("water.tap_open", "info", ignore=1.0)[:50])


@pytest.mark.parametrize(("alert_type", "word"), [
    ("water.no_usage", "老人"), ("elevator.ebike", "电动车"), ("water.tap_open", "水龙头"),
    ("water.meter_offline", "水表"), ("water.continuous_flow", "漏水"),
])
def test_notes_are_short_chinese_and_fit_the_alert(alert_type: str, word: str) -> None:
    plans = draws(alert_type, "warning")[:200]
    accept, arrive, resolve = zip(*(p.notes for p in plans), strict=True)
    assert all(n.startswith(("已接单", "收到")) for n in accept)
    assert all(n.startswith("已到") for n in arrive)
    assert all(n.startswith("已处置：") and len(n) <= 40 for n in resolve)
    assert any(word in n for n in resolve)


def test_a_plan_is_seeded_and_its_steps_are_in_loop_order() -> None:
    one = plan("elevator.ebike", "critical", random.Random("0:w1:a1"))
    assert one == plan("elevator.ebike", "critical", random.Random("0:w1:a1"))
    answering = next(p for p in draws("elevator.ebike", "critical", seed=7) if p.answers)
    assert [s[0] for s in answering.steps()] == ["accept", "arrive", "resolve"]
    assert [s[1] for s in answering.steps()] == [answering.accept_s, answering.arrive_s, answering.resolve_s]
    with pytest.raises(ValueError, match="ignore"):
        plan("water.spike", "info", random.Random(0), ignore=1.5)


# --- CLI and construction --------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_parses_its_options(tmp_path: Path) -> None:
    args = parse("--tokens", str(tmp_path / "t.yaml"), "--speed", "60", "--ignore", "0.2", "--duration", "5",
                 "--dispatch", "http://127.0.0.1:9000/api/v1/alerts", "--mqtt-protocol", "3.1.1")
    assert (args.speed, args.ignore, args.duration, args.protocol) == (60.0, 0.2, 5.0, "3.1.1")
    assert base_url(args.dispatch) == "http://127.0.0.1:9000"
    assert base_url("http://h:1/") == "http://h:1"
    with pytest.raises(SystemExit):
        parse("--speed", "60")  # --tokens is required


def test_cli_fails_clearly_on_a_missing_or_bad_tokens_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nope.yaml"
    assert cli.run(parse("--tokens", str(missing))) == 2
    assert f"tokens file {missing} does not exist" in capsys.readouterr().err

    listed = tmp_path / "list.yaml"
    listed.write_text("- w1\n- w2\n")
    assert cli.run(parse("--tokens", str(listed))) == 2
    assert "must map worker ids to tokens" in capsys.readouterr().err

    empty_token = tmp_path / "t.json"
    empty_token.write_text('{"w1": "s3cret", "w2": ""}')
    assert cli.run(parse("--tokens", str(empty_token))) == 2
    err = capsys.readouterr().err
    assert "w2" in err and "s3cret" not in err  # names the worker, never prints a token

    good = tmp_path / "ok.json"
    good.write_text('{"w1": "s3cret"}')
    assert cli.run(parse("--tokens", str(good), "--speed", "0")) == 2
    assert "speed must be positive" in capsys.readouterr().err
    assert cli.load_tokens(good) == {"w1": "s3cret"}


# --- phones against a real broker and a small real HTTP receiver -----------------------------------

W1_TOKEN = "w1-phone-token"


class Receiver:
    """A real HTTP server on a free port that answers the lifecycle calls as scripted per alert id
    (a list of status codes, the last one repeating) and records what it was sent."""

    def __init__(self, script: dict[str, list[int]]) -> None:
        self.script = script
        self.calls: list[tuple[str, str, str, dict]] = []  # (alert id, action, authorization, body)
        app = FastAPI()

        @app.post("/api/v1/alerts/{alert_id}/{action}")
        async def lifecycle(alert_id: str, action: str, request: Request) -> JSONResponse:
            self.calls.append((alert_id, action, request.headers.get("authorization", ""), await request.json()))
            codes = self.script.get(alert_id, [200])
            status = codes.pop(0) if len(codes) > 1 else codes[0]
            return JSONResponse({"detail": f"scripted {status}"}, status_code=status)

        self.handle = start_app_in_thread(app)

    def actions(self, alert_id: str) -> list[str]:
        return [action for a, action, _auth, _body in self.calls if a == alert_id]


def notify_payload(alert_id: str, *, to: str = "w1", assignee: str | None = "w1", reason: str = "dispatched",
                   state: str = "dispatched", alert_type: str = "elevator.ebike") -> bytes:
    now = datetime(2026, 3, 1, 8, tzinfo=UTC)
    info = DispatchInfo(state=state, queue="g1", assignee=assignee, dispatched_at=now, first_change_at=now,
                        last_change_at=now, changes=1, reason=reason)
    return NotifyMessage(id=alert_id, type=alert_type, state="active", severity="critical", subject="lift-1",
                         building="b1", grid="g1", started_at=now, raised_at=now, summary="电动车进电梯",
                         edge_id="edge-01", dispatch=info, to=to).model_dump_json().encode()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_phone_retries_5xx_stops_on_409_and_403_and_survives_bad_payloads(mosquitto) -> None:
    receiver = Receiver({"a-ok": [503, 200], "a-taken": [409], "a-refused": [403]})
    simulator = WorkerSimulator(MqttConfig(url=mosquitto.url), receiver.handle.url, {"w1": W1_TOKEN},
                                speed=6000, ignore=0.0).start()
    publisher = MqttConnection(MqttConfig(url=mosquitto.url), "test-dispatch-publisher", persistent=False).start()
    try:
        assert simulator.wait_ready(5) and publisher.wait_connected(5)
        topic = "grid/workers/w1/notify"
        publisher.publish(topic, b"not json")
        publisher.publish(topic, notify_payload("a-other", assignee="w2"))  # someone else's alert
        publisher.publish(topic, notify_payload("a-late", reason="escalated", assignee="w2"))
        for alert_id in ("a-ok", "a-ok", "a-taken", "a-refused"):  # a-ok twice: a redelivery
            publisher.publish(topic, notify_payload(alert_id))

        assert wait_until(lambda: simulator.counters()["resolved"] == 1, 10), simulator.counters()
        assert receiver.actions("a-ok") == ["accept", "accept", "arrive", "resolve"]  # the 503 was retried
        assert receiver.actions("a-taken") == ["accept"] and receiver.actions("a-refused") == ["accept"]
        assert receiver.actions("a-other") == [] and receiver.actions("a-late") == []
        _id, _action, authorization, body = receiver.calls[-1]
        assert authorization == f"Bearer {W1_TOKEN}" and body["note"].startswith("已处置：")
        counts = simulator.counters()
        assert {k: counts[k] for k in ("notified", "accepted", "arrived", "resolved", "retries", "conflicts",
                                       "errors", "invalid", "escalations", "ignored")} == {
            "notified": 3, "accepted": 1, "arrived": 1, "resolved": 1, "retries": 1, "conflicts": 1,
            "errors": 1, "invalid": 1, "escalations": 1, "ignored": 0}
    finally:
        publisher.stop()
        simulator.stop()
        receiver.handle.stop()


# --- the loop end to end: real Mosquitto, real dispatch, simulated phones --------------------------

EDGE, OPERATOR = "edge-secret", "operator-secret"
PHONES = {"w1": "w1-secret", "lead": "lead-secret"}


@pytest.fixture
def dispatch(mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerHandle]:
    """Grid g1: w1 on duty, `lead` its leader; deadlines of a second or two so escalation is seen."""
    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR)
    registry = Registry.model_validate({
        "grids": [{"id": "g1", "workers": ["w1"], "leader": "lead"}],
        "workers": [{"id": w, "token_sha256": hashlib.sha256(t.encode()).hexdigest()} for w, t in PHONES.items()],
        "buildings": [{"id": "b1", "grid": "g1"}],
    })
    fast = SeverityDeadlines(accept_min=0.02, resolve_min=0.05)  # 1.2 s and 3 s
    config = DispatchConfig(listen="127.0.0.1:0", state_dir=tmp_path / "dispatch", mqtt=MqttConfig(url=mosquitto.url),
                            sla=SlaConfig(critical=fast, warning=fast, info=fast))
    handle = start_in_thread(config, registry)
    yield handle
    handle.stop()


def alert_for(n: int, alert_type: str = "elevator.ebike") -> Alert:
    at = datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=n)
    return Alert(id=episode_id(alert_type, f"lift-{n}", at), type=alert_type, state="active", severity="critical",
                 subject=f"lift-{n}", building="b1", grid="g1", started_at=at, raised_at=at,
                 summary="电动车进入电梯", edge_id="edge-01")


def detail(handle: ServerHandle, alert_id: str) -> dict:
    response = httpx.get(f"{handle.alerts_url}/{alert_id}", headers={"Authorization": f"Bearer {OPERATOR}"},
                         timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def run_alert(mosquitto, dispatch: ServerHandle, ignore: float, n: int) -> tuple[WorkerSimulator, Alert]:
    simulator = WorkerSimulator(MqttConfig(url=mosquitto.url), dispatch.alerts_url, PHONES, speed=3000,
                                ignore=ignore, seed=3).start()
    assert simulator.wait_ready(5)
    alert = alert_for(n)
    posted = httpx.post(dispatch.alerts_url, content=alert.to_json(), timeout=5,
                        headers={"Authorization": f"Bearer {EDGE}"})
    assert posted.status_code == 201, posted.text
    return simulator, alert


def test_an_answering_worker_walks_a_posted_alert_to_resolved(mosquitto, dispatch: ServerHandle) -> None:
    simulator, alert = run_alert(mosquitto, dispatch, ignore=0.0, n=1)
    try:
        assert wait_until(lambda: detail(dispatch, alert.id)["dispatch"]["state"] == "resolved", 15), \
            (detail(dispatch, alert.id)["dispatch"], simulator.counters())
        steps = [(t["action"], t["to_state"], t["actor"]) for t in detail(dispatch, alert.id)["transitions"]
                 if t["actor"].startswith("worker:")]
        assert steps == [("accept", "accepted", "worker:w1"), ("arrive", "on_site", "worker:w1"),
                         ("resolve", "resolved", "worker:w1")]
        notes = [t["note"] for t in detail(dispatch, alert.id)["transitions"] if t["actor"] == "worker:w1"]
        assert notes[0].startswith(("已接单", "收到")) and notes[2].startswith("已处置：")
        counts = simulator.counters()
        assert (counts["notified"], counts["accepted"], counts["arrived"], counts["resolved"]) == (1, 1, 1, 1)
        assert counts["errors"] == 0 and counts["ignored"] == 0
    finally:
        simulator.stop()


def test_a_worker_who_never_answers_leaves_it_dispatched_and_the_leader_is_told(mosquitto,
                                                                                 dispatch: ServerHandle) -> None:
    simulator, alert = run_alert(mosquitto, dispatch, ignore=1.0, n=2)
    try:
        # The 1.2 s accept deadline passes: the leader's phone gets the escalation, and does nothing.
        assert wait_until(lambda: simulator.counters()["escalations"] >= 1, 10), simulator.counters()
        view = detail(dispatch, alert.id)
        assert view["dispatch"]["state"] == "dispatched" and view["dispatch"]["escalation"] >= 1
        assert not [t for t in view["transitions"] if t["actor"].startswith("worker:")]
        counts = simulator.counters()
        assert (counts["notified"], counts["ignored"], counts["accepted"]) == (1, 1, 0)
    finally:
        simulator.stop()



def test_cli_phone_that_was_off_gets_the_alert_when_it_comes_back(mosquitto, dispatch: ServerHandle,
                                                                  tmp_path: Path, capsys) -> None:
    # A first run leaves the phones' persistent sessions at the broker; the alert comes while they are off.
    first = WorkerSimulator(MqttConfig(url=mosquitto.url), dispatch.url, PHONES).start()
    assert first.wait_ready(5)
    first.stop()
    alert = alert_for(4)
    posted = httpx.post(dispatch.alerts_url, content=alert.to_json(), timeout=5,
                        headers={"Authorization": f"Bearer {EDGE}"})
    assert posted.status_code == 201 and detail(dispatch, alert.id)["dispatch"]["state"] == "dispatched"

    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("".join(f"{w}: {t}\n" for w, t in PHONES.items()))
    code = cli.run(parse("--tokens", str(tokens), "--mqtt", mosquitto.url, "--dispatch", dispatch.url,
                         "--speed", "3000", "--ignore", "0", "--duration", "2.5"))
    assert code == 0
    assert detail(dispatch, alert.id)["dispatch"]["state"] == "resolved"
    out = capsys.readouterr().out
    assert "notified=1 accepted=1 arrived=1 resolved=1 ignored=0 errors=0" in out
    assert not any(t in out for t in PHONES.values())
