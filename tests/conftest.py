"""Real servers on free loopback ports: Mosquitto, VictoriaMetrics (InfluxDB v2 write API)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.broker import Mosquitto, find_mosquitto, free_port, wait_for_port
from tests.postgres import PostgresServer, find_pg_bin

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run the README's set-up")
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


class VictoriaMetrics:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                shutil.which("victoria-metrics") or "victoria-metrics",
                f"-storageDataPath={data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    if shutil.which("victoria-metrics") is None:
        pytest.fail("victoria-metrics is not installed: run the README's set-up")
    server = VictoriaMetrics(tmp_path / "vm")
    yield server
    server.stop()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests read the shared data beside the repository")
    return SHARED


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session (initdb takes seconds); each test gets its own database."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (initdb/pg_ctl not found): run the README's set-up "
                    "(scripts/setup.sh installs Debian's postgresql)")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
