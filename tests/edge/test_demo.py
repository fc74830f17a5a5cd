"""`gridwatch demo`, the README's first command, on Mosquitto: it starts, raises alerts, stops."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge.broker import find_mosquitto


@pytest.mark.skipif(find_mosquitto() is None, reason="the set-up installs Mosquitto")
def test_demo_runs_raises_alerts_and_stops_cleanly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--duration", "25", "--meters", "20", "--port", "0",
         "--state-dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Mosquitto" in out and "/api/v1/alerts" in out
    page = re.search(r"command center:\s+(http://127\.0\.0\.1:\d+)/#token=\S+", out)
    assert page, out[:2000]
    alerts = re.findall(r"\[ active\] (warning|critical)\s+(water\.\w+)", out)
    assert alerts, out[-3000:]
    stopped = re.search(r"demo stopped: (\d+) readings, (\d+) alert changes", out)
    assert stopped and int(stopped.group(1)) > 1000 and int(stopped.group(2)) >= len(alerts)
    # The simulated grid workers took dispatched alerts from their phones.
    loop = re.search(r"grid workers accepted (\d+), resolved (\d+)", out)
    assert loop and int(loop.group(1)) >= 1, out[-2000:]
    # the dispatch endpoint stored what the edge raised
    assert (tmp_path / "demo" / "dispatch" / "dispatch.sqlite").exists()
