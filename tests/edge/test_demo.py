"""`gridwatch demo`, the README's first command: it starts, raises water alerts, plays elevator cameras whose
e-bikes reach dispatch with a snapshot and hold the doors, and stops; on Mosquitto and on the embedded broker."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from edge.broker import find_mosquitto, free_port
from ingest.config import MqttConfig
from ingest.mqtt_client import InboundMessage, MqttConnection


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


class Demo:
    """`gridwatch demo` as a user starts it, its console read line by line while it runs."""

    def __init__(self, state_dir: Path, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "demo", "--port", "0", "--no-browser", "--state-dir", str(state_dir),
             *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def banner(self, pattern: str) -> re.Match[str]:
        wait_for(lambda: re.search(pattern, self.out) is not None or self.process.poll() is not None, 60,
                 f"the demo's banner line {pattern!r}")
        match = re.search(pattern, self.out)
        assert match, self.out[-3000:]
        return match

    def finish(self, timeout_s: float = 120) -> str:
        returncode = self.process.wait(timeout_s)
        self._reader.join(10)
        assert returncode == 0, self.out[-3000:]
        return self.out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Commands:
    """What the edge sends the elevator boxes, as a box subscribed on the demo's broker receives it."""

    def __init__(self, broker_url: str, protocol: str) -> None:
        self.received: list[tuple[str, dict]] = []
        self.conn = MqttConnection(MqttConfig(url=broker_url, protocol=protocol), f"test-box-{free_port()}",
                                   subscriptions=["grid/elevator/+/command"], persistent=False, on_message=self._on)
        self.conn.start()
        assert self.conn.wait_subscribed(10)

    def _on(self, message: InboundMessage) -> None:
        self.received.append((message.topic.split("/")[2], json.loads(message.payload)))

    def stop(self) -> None:
        self.conn.stop()


def ebike_alert_with_snapshot(page: str, token: str) -> dict | None:
    """The first elevator.ebike alert stored at dispatch, with its detail (the list leaves snapshots out)."""
    headers = {"Authorization": f"Bearer {token}"}
    try:
        listing = httpx.get(f"{page}/api/v1/alerts", params={"type": "elevator.ebike"}, headers=headers, timeout=5)
        for item in listing.raise_for_status().json()["alerts"]:
            detail = httpx.get(f"{page}/api/v1/alerts/{item['id']}", headers=headers, timeout=5).raise_for_status()
            alert = detail.json()
            if alert.get("snapshot_jpeg_b64"):
                return alert
    except httpx.HTTPError:
        return None
    return None


def watch_elevators(demo: Demo, protocol: str) -> dict:
    """While the demo runs: an e-bike alert at dispatch with a decodable snapshot, and door commands on the broker."""
    page = demo.banner(r"command center:\s+(http://127\.0\.0\.1:\d+)/#token=(\S+)")
    broker = demo.banner(r"broker:\s+(mqtt://127\.0\.0\.1:\d+)")
    assert re.search(r"elevators:\s+3 cameras \(el-01, el-02, el-03\) playing", demo.out), demo.out[:3000]
    assert "-t 'grid/elevator/+/command'" in demo.out
    commands = Commands(broker.group(1), protocol)
    try:
        found: list[dict] = []

        def stored() -> bool:
            alert = ebike_alert_with_snapshot(*page.groups())
            found.extend([alert] if alert else [])
            return bool(found)

        wait_for(stored, 60, "an elevator.ebike alert with its snapshot at dispatch")
        alert = found[0]
        assert alert["subject"] in ("el-01", "el-02", "el-03") and alert["grid"], alert
        snapshot = cv2.imdecode(np.frombuffer(base64.b64decode(alert["snapshot_jpeg_b64"]), np.uint8),
                                cv2.IMREAD_COLOR)
        assert snapshot is not None and snapshot.shape[0] > 100
        # The hold went out with the raise (the console shows it); the announcement repeats and the release
        # follows the bike's leaving, so a box subscribed now still sees commands for an alert of the demo.
        wait_for(lambda: any(c.get("alert_id", "").startswith("elevator.ebike:") for _, c in commands.received), 60,
                 "a door command for an e-bike alert on the broker")
        return alert
    finally:
        commands.stop()


def check_console(out: str) -> None:
    holds = re.findall(r"\[   door\] (el-0\d) hold_door \(alert (elevator\.ebike:\w+)\)", out)
    assert holds, out[-3000:]
    assert re.search(r"\[ active\] critical elevator\.ebike\s+el-0\d\s+grid=g-\d+", out), out[-3000:]
    # Every alert and door line starts with the wall time; nothing raw leaks (logger names, OpenCV's own lines).
    events = [line for line in out.splitlines() if re.search(r"\[ active\]|\[cleared\]|\[   door\]", line)]
    assert events and all(re.match(r"\d\d:\d\d:\d\d \[", line) for line in events), events[:5]
    assert "WARNING ingest.deadletter" not in out and "[ WARN" not in out, out[-3000:]
    # The closing line counts every kind of alert the console showed, e-bikes included.
    tally = re.search(r"(\d+) alert changes \((\d+) alerts: ([^)]*)\)", out)
    assert tally, out[-2000:]
    kinds = dict(re.findall(r"([a-z]+\.[a-z_]+) (\d+)", tally.group(3)))
    assert int(kinds.get("elevator.ebike", 0)) >= 1 and sum(map(int, kinds.values())) == int(tally.group(2))
    shown = {kind for kind in re.findall(r"\[ active\] \w+\s+([a-z]+\.[a-z_]+)", out)}
    assert shown <= set(kinds), (shown, kinds)
    stopped = re.search(r"(\d+) e-bike alerts, doors held (\d+), released (\d+)", out)
    assert stopped and int(stopped.group(1)) >= 1 and int(stopped.group(2)) == len(holds), out[-2000:]


@pytest.mark.skipif(find_mosquitto() is None, reason="the set-up installs Mosquitto")
def test_demo_runs_raises_alerts_and_stops_cleanly(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "demo", "--duration", "30", "--meters", "20")
    try:
        watch_elevators(demo, "5")
        out = demo.finish()
    finally:
        demo.kill()
    assert "Mosquitto" in out and "/api/v1/alerts" in out
    alerts = re.findall(r"\[ active\] (warning|critical)\s+(water\.\w+)", out)
    assert alerts, out[-3000:]
    stopped = re.search(r"demo stopped: (\d+) readings, (\d+) alert changes", out)
    assert stopped and int(stopped.group(1)) > 1000 and int(stopped.group(2)) >= len(alerts)
    # The simulated grid workers took dispatched alerts from their phones.
    loop = re.search(r"grid workers accepted (\d+), resolved (\d+)", out)
    assert loop and int(loop.group(1)) >= 1, out[-2000:]
    check_console(out)
    # The simulator's deliberate bad payloads are announced as such, not as unexplained warnings.
    assert "bad payloads on purpose" in out
    assert re.search(r"\d\d:\d\d:\d\d \[  dead \] dead letter from grid/water/meter-\d+/reading: .*on purpose", out), \
        out[-3000:]
    # the dispatch endpoint stored what the edge raised
    assert (tmp_path / "demo" / "dispatch" / "dispatch.sqlite").exists()


def test_demo_on_the_embedded_broker_plays_elevators_over_mqtt_311(tmp_path: Path) -> None:
    """amqtt speaks MQTT 3.1.1 only: the cameras publish without the `ts` property, the edge takes arrival time."""
    demo = Demo(tmp_path / "demo", "--broker", "embedded", "--duration", "20", "--meters", "8")
    try:
        assert "embedded amqtt broker" in demo.banner(r"broker: .*\n").group(0)
        watch_elevators(demo, "3.1.1")
        out = demo.finish()
    finally:
        demo.kill()
    check_console(out)


def test_the_console_shows_an_episode_once_raised_and_once_cleared(capsys: pytest.CaptureFixture[str]) -> None:
    """An e-bike episode is updated often, its clip even after the clear: the console shows the raise and the
    clear, once each, and still counts every change."""
    from edge.demo import Console

    console = Console()
    base = {"id": "elevator.ebike:1", "type": "elevator.ebike", "severity": "critical", "subject": "el-01",
            "grid": "g-01", "summary": "E-bike", "raised_at": "2026-12-04T02:25:54Z"}
    for state, cleared_at in (("active", None), ("active", None), ("cleared", "2026-12-04T02:25:59Z"),
                              ("cleared", "2026-12-04T02:25:59Z")):
        payload = json.dumps({**base, "state": state, "cleared_at": cleared_at}).encode()
        console.on_message(InboundMessage("grid/alerts/g-01", payload, 1, 0, {}, time.time()))
    out = capsys.readouterr().out
    assert out.count("[ active]") == 1 and out.count("[cleared]") == 1, out
    assert console.tally().startswith("4 alert changes (1 alerts")
