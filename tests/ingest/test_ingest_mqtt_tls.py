"""MQTT over TLS for real: a CA made in the test, a Mosquitto TLS listener with passwords, `mqtts://` with the
custom CA setting, the password from the environment or a credentials file; no CA or a wrong password: no link."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.broker import free_port, wait_for_port
from ingest.mqtt_client import MqttConnection
from tests.ingest.mqtt_helpers import Inbox, fast_config


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key): a throwaway CA and a certificate for localhost signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=gridwatch test CA",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
             "-out", "server.csr", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days",
             "2", "-extfile", "san.ext", "-out", "server.crt", cwd=folder)
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "edge-01", "s3cret-pw"], check=True,
                   capture_output=True)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
                    f"allow_anonymous false\npassword_file {passwd}\nuser {pwd.getpwuid(os.getuid()).pw_name}\n")
    process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    yield port, ca
    process.terminate()
    process.wait(10)


def test_mqtts_with_a_custom_ca_and_the_password_from_a_credentials_file(
        tls_broker: tuple[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port, ca = tls_broker
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "GRIDWATCH_MQTT_PASSWORD").write_text("s3cret-pw\n")
    monkeypatch.delenv("GRIDWATCH_MQTT_PASSWORD", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))  # systemd's LoadCredential=
    config = fast_config(f"mqtts://localhost:{port}", username="edge-01", password_env="GRIDWATCH_MQTT_PASSWORD",
                         ca_file=ca)
    inbox = Inbox()
    conn = MqttConnection(config, "tls-test", subscriptions=["grid/test"], on_message=inbox, persistent=False)
    conn.start()
    try:
        assert conn.wait_subscribed(10), "no TLS connection with the custom CA"
        conn.publish("grid/test", b"over tls")
        assert inbox.wait_for(lambda msgs: len(msgs) >= 1)[0].payload == b"over tls"
    finally:
        conn.stop()


@pytest.mark.parametrize(("ca", "password"), [(False, "s3cret-pw"), (True, "wrong")])
def test_no_link_without_the_ca_or_with_a_wrong_password(tls_broker: tuple[int, Path], monkeypatch: pytest.MonkeyPatch,
                                                         ca: bool, password: str) -> None:
    port, ca_file = tls_broker
    monkeypatch.setenv("GRIDWATCH_MQTT_PASSWORD", password)
    config = fast_config(f"mqtts://localhost:{port}", username="edge-01", password_env="GRIDWATCH_MQTT_PASSWORD",
                         ca_file=ca_file if ca else None)
    conn = MqttConnection(config, "tls-refused", persistent=False)
    conn.start()
    try:
        assert not conn.wait_connected(2)
    finally:
        conn.stop()
