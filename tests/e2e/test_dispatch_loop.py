"""Dispatch end to end, spoken to by programs nobody here wrote: `curl` posts the alert and
walks the loop, `mosquitto_sub` is the grid worker's phone and the leader's. `gridwatch
dispatch` runs as a real process and is killed with SIGKILL in the middle."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from edge.broker import Mosquitto, free_port
from tests.dispatch.loop_helpers import EDGE, OPERATOR, TOKENS, loop_registry, make_alert
from tests.e2e.harness import wait_for

pytestmark = pytest.mark.timeout(120)


class Phone:
    """`mosquitto_sub` with a persistent session on one worker's notify topic."""

    def __init__(self, broker: Mosquitto, worker: str) -> None:
        binary = shutil.which("mosquitto_sub")
        if binary is None:
            pytest.fail("mosquitto_sub is missing: run the README's set-up (Debian's mosquitto-clients)")
        self.messages: list[dict] = []
        self.process = subprocess.Popen(
            [binary, "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5", "-q", "1", "-c", "-x", "3600",
             "-i", f"phone-{worker}", "-t", f"grid/workers/{worker}/notify"],
            stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.messages.append(json.loads(line))

    def got(self, alert_id: str, reason: str) -> bool:
        return any(m["id"] == alert_id and m["dispatch"]["reason"] == reason for m in self.messages)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(5)


class DispatchProcess:
    def __init__(self, config: Path, log: Path, port: int) -> None:
        self.config, self.log, self.url = config, log, f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> DispatchProcess:
        env = {**os.environ, "GRIDWATCH_TOKEN": EDGE, "GRIDWATCH_OPERATOR_TOKEN": OPERATOR}
        gridwatch = Path(sys.executable).with_name("gridwatch")
        with self.log.open("a") as log:
            self.process = subprocess.Popen([str(gridwatch), "dispatch", "--config", str(self.config)], env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._up, 60, "gridwatch dispatch to answer /healthz")  # a start on two busy cores
        return self

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


def curl(url: str, token: str | None, body: str | None = None) -> tuple[int, str]:
    command = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", url,
               "-H", "Content-Type: application/json"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        command += ["--data-binary", body]
    out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True).stdout
    text, _, code = out.rpartition("\n")
    return int(code), text


@pytest.fixture
def setup(tmp_path: Path, mosquitto: Mosquitto) -> dict:
    if shutil.which("curl") is None:
        pytest.fail("curl is missing: run the README's set-up")
    registry = loop_registry().model_dump(mode="json", exclude_defaults=True)
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    port = free_port()
    config = {
        "listen": f"127.0.0.1:{port}", "registry": "registry.yaml", "state_dir": "state",
        "mqtt": {"url": mosquitto.url},
        # critical: 1.8 s to accept, so an ignored alert escalates within the test.
        "sla": {"critical": {"accept_min": 0.03, "resolve_min": 60}, "warning": {"accept_min": 30, "resolve_min": 240}},
    }
    (tmp_path / "dispatch.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return {"config": tmp_path / "dispatch.yaml", "log": tmp_path / "dispatch.log", "port": port}


def test_alert_reaches_the_phone_walks_the_loop_escalates_and_survives_kill9(setup: dict, mosquitto: Mosquitto
                                                                              ) -> None:
    phones = {w: Phone(mosquitto, w) for w in ("w1", "w2", "lead")}
    dispatch = DispatchProcess(setup["config"], setup["log"], setup["port"]).start()
    alerts_url = f"{dispatch.url}/api/v1/alerts"
    try:
        routine = make_alert(0, severity="warning")
        assert curl(alerts_url, None, routine.to_json())[0] == 401
        assert curl(alerts_url, OPERATOR, routine.to_json())[0] == 403
        assert curl(alerts_url, EDGE, routine.to_json())[0] == 201
        wait_for(lambda: phones["w1"].got(routine.id, "dispatched"), 10, "the dispatch push on w1's phone")
        pushed = next(m for m in phones["w1"].messages if m["id"] == routine.id)
        assert pushed["to"] == "w1" and pushed["dispatch"]["assignee"] == "w1" and pushed["grid"] == "g1"

        # The closed loop through the API, with the wrong callers refused.
        assert curl(f"{alerts_url}/{routine.id}/accept", TOKENS["w2"])[0] == 403
        assert curl(f"{alerts_url}/{routine.id}/accept", TOKENS["w9"])[0] == 403
        assert curl(f"{alerts_url}/{routine.id}/accept", "nobody")[0] == 401
        assert curl(f"{alerts_url}/{routine.id}/accept", TOKENS["w1"], '{"note": "马上到"}')[0] == 200
        feed_mark = httpx.get(f"{dispatch.url}/api/v1/alerts/{routine.id}",
                              headers={"Authorization": f"Bearer {OPERATOR}"}).json()

        # Killed mid-loop: nothing it had answered is lost.
        dispatch.kill9()
        ignored = make_alert(1, severity="critical")
        dispatch.start()
        assert curl(alerts_url, EDGE, ignored.to_json())[0] == 201
        dispatch.kill9()  # the accept deadline passes while dispatch is down ...
        time.sleep(2.0)
        dispatch.start()  # ... and fires once it is back
        wait_for(lambda: phones["lead"].got(ignored.id, "escalated"), 10, "the escalation on the leader's phone")

        for action, token, body in (("arrive", TOKENS["w1"], None), ("resolve", TOKENS["w1"], '{"note": "已关阀"}'),
                                    ("rate", OPERATOR, '{"score": 5}')):
            code, text = curl(f"{alerts_url}/{routine.id}/{action}", token, body)
            assert code == 200, text
        detail = httpx.get(f"{alerts_url}/{routine.id}", headers={"Authorization": f"Bearer {OPERATOR}"}).json()
        assert [t["action"] for t in detail["transitions"]] == ["dispatch", "accept", "arrive", "resolve", "rate"]
        assert detail["dispatch"]["state"] == "rated" and feed_mark["dispatch"]["state"] == "accepted"

        # The feed, resumed from before the kill, replays what came after, in order, once.
        first = _feed(dispatch.url, after=0)
        ids = [e["seq"] for e in first]
        assert ids == sorted(set(ids))
        resumed = _feed(dispatch.url, last_event_id=ids[2])
        assert [e["seq"] for e in resumed] == ids[3:]
        assert any(e["reason"] == "escalated" and e["notify"] == ["lead"] for e in first)

        page = httpx.get(dispatch.url + "/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        # The escalated alert went to the leader once, not once per restart.
        escalations = [m for m in phones["lead"].messages if m["id"] == ignored.id]
        assert len(escalations) == 1
    finally:
        dispatch.stop()
        for phone in phones.values():
            phone.close()


def _feed(url: str, *, after: int | None = None, last_event_id: int | None = None) -> list[dict]:
    """Every event the feed replays, read until it goes quiet."""
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    params = {}
    if after is not None:
        params["after"] = after
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    events: list[dict] = []
    try:
        with httpx.stream("GET", f"{url}/api/v1/feed", params=params, headers=headers,
                          timeout=httpx.Timeout(5, read=1.5)) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
    except httpx.ReadTimeout:
        pass  # quiet: the replay is over
    return events
