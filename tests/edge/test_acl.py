"""`gridwatch acl` against a real Mosquitto with passwords: each kind of device may publish only its own topics."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.acl import AclError, acl_users
from edge.broker import free_port, wait_for_port
from edge.cli import main
from ingest.registry import Registry
from ingest.topics import Topics

REGISTRY = """\
grids: [{id: g1, workers: [w1]}]
workers: [{id: w1}]
buildings: [{id: b1, grid: g1}]
meters: [{id: m-1, building: b1}]
elevators: [{id: e-1, building: b1}]
"""
USERS = ["m-1", "cam-e-1", "box-e-1", "edge-01", "dispatch", "app", "w1", "observer"]

# (username, topic, allowed)
CASES = [
    ("m-1", "grid/water/m-1/reading", True),
    ("m-1", "grid/water/m-2/reading", False),  # another meter's readings
    ("m-1", "grid/elevator/m-1/frame", False),  # a meter posing as a camera under its own id
    ("m-1", "grid/elevator/m-1/status", False),
    ("m-1", "grid/water/m-1/away", False),
    ("cam-e-1", "grid/elevator/e-1/frame", True),
    ("cam-e-1", "grid/water/e-1/reading", False),  # a camera posting water readings
    ("cam-e-1", "grid/water/cam-e-1/reading", False),
    ("cam-e-1", "grid/elevator/e-1/status", False),
    ("box-e-1", "grid/elevator/e-1/status", True),
    ("box-e-1", "grid/elevator/e-1/frame", False),
    ("box-e-1", "grid/elevator/e-1/command", False),
    ("app", "grid/water/m-1/away", True),
    ("app", "grid/water/m-9/away", False),  # a meter nobody registered
    ("app", "grid/water/m-1/reading", False),
    ("app", "grid/workers/w1/notify", False),
    ("edge-01", "grid/elevator/e-1/command", True),
    ("edge-01", "grid/alerts/g1", True),
    ("edge-01", "grid/deadletter/edge-01", True),
    ("edge-01", "grid/deadletter/edge-02", False),
    ("edge-01", "grid/water/m-1/reading", False),
    ("dispatch", "grid/workers/w1/notify", True),
    ("dispatch", "grid/elevator/e-1/command", False),
    ("w1", "grid/workers/w1/notify", False),
]


@pytest.fixture
def broker(tmp_path: Path):  # noqa: ANN201
    if shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto_passwd is not installed: run the README's set-up (Debian package mosquitto)")
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY)
    acl = tmp_path / "gridwatch.acl"
    assert main(["acl", "--registry", str(registry), "--out", str(acl)]) == 0
    acl.write_text(acl.read_text() + "\nuser observer\ntopic read #\n")  # the test's eyes, not part of a site
    passwd = tmp_path / "passwd"
    for n, user in enumerate(USERS):
        subprocess.run(["mosquitto_passwd", "-b", *([] if n else ["-c"]), str(passwd), user, f"pw-{user}"],
                       check=True, capture_output=True)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
                    f"user {pwd.getpwuid(os.getuid()).pw_name}\n")
    process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    yield port
    process.terminate()
    process.wait(10)


def connect(port: int, user: str, password: str | None = None, wait_s: float = 5.0) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, password or f"pw-{user}")
    connected = threading.Event()
    client.on_connect = lambda c, u, f, reason, p: connected.set() if not reason.is_failure else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(wait_s):
        client.loop_stop()
        raise AssertionError(f"{user} could not connect")
    return client


def test_each_device_may_publish_only_its_own_topics(broker: int) -> None:
    seen: list[str] = []
    subscribed = threading.Event()
    observer = connect(broker, "observer")
    observer.on_message = lambda c, u, message: seen.append(message.topic + " " + message.payload.decode())
    observer.on_subscribe = lambda *args: subscribed.set()
    observer.subscribe("grid/#", qos=1)
    assert subscribed.wait(5)
    clients = {user: connect(broker, user) for user in {user for user, _, _ in CASES}}
    try:
        for user, topic, _ in CASES:
            clients[user].publish(topic, user, qos=1).wait_for_publish(5)
        allowed = {f"{topic} {user}" for user, topic, ok in CASES if ok}
        deadline = time.monotonic() + 5
        while not allowed <= set(seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # anything denied would have arrived by now
    finally:
        for client in [*clients.values(), observer]:
            client.loop_stop()
            client.disconnect()
    assert set(seen) == allowed


def test_a_wrong_password_is_refused(broker: int) -> None:
    with pytest.raises(AssertionError, match="could not connect"):
        connect(broker, "m-1", "guess", wait_s=1.0)


def test_a_username_two_devices_would_share_is_an_error() -> None:
    registry = Registry.model_validate({"workers": [{"id": "m-1"}], "buildings": [{"id": "b1"}],
                                        "meters": [{"id": "m-1", "building": "b1"}]})
    with pytest.raises(AclError, match="m-1"):
        acl_users(registry, ["edge-01"], Topics())


def test_the_shipped_acl_is_what_the_command_makes_of_the_example_registry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    out = tmp_path / "acl"
    assert main(["acl", "--registry", "deploy/examples/registry.yaml", "--out", str(out)]) == 0
    shipped = Path("deploy/mosquitto/gridwatch.acl").read_text()
    assert shipped == out.read_text()
    assert not [line for line in shipped.splitlines() if line.startswith("pattern")]
    assert "user cam-el-03-a" in shipped and "user cam-el-03-b" not in shipped  # el-03-b is read over RTSP
