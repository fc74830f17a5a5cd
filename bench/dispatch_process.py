"""The dispatch endpoint in its own process for the dispatch benchmarks: four grids, one worker
each, the benchmarks' tokens; `python -m edge.cli dispatch` on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from bench.pipeline_parts import ROOT, TOKENS, wait_for
from bench.procstat import cpu_seconds
from edge.broker import free_port

GRIDS = ("g1", "g2", "g3", "g4")


class DispatchProcess:
    def __init__(self, work: Path, *, broker_url: str | None = None, hook_port: int | None = None) -> None:
        """`broker_url`: push to the workers' notify topics; `hook_port`: each worker also has an
        apprise `json://` channel on that port, path `/w-<grid>`."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        channels = (lambda g: [f"json://127.0.0.1:{hook_port}/w-{g}"]) if hook_port else (lambda g: [])
        registry = {
            "grids": [{"id": g, "workers": [f"w-{g}"]} for g in GRIDS],
            "workers": [{"id": f"w-{g}", "channels": channels(g)} for g in GRIDS],
            "buildings": [{"id": f"b-{g}", "grid": g} for g in GRIDS],
        }
        (work / "registry.yaml").write_text(yaml.safe_dump(registry))
        config: dict = {"listen": f"127.0.0.1:{self.port}", "registry": "registry.yaml", "state_dir": "dispatch"}
        if broker_url:
            config["mqtt"] = {"url": broker_url}
        (work / "dispatch.yaml").write_text(yaml.safe_dump(config))
        self.log_path = work / "dispatch.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "dispatch", "--config", str(work / "dispatch.yaml")],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **TOKENS}, cwd=ROOT,
            )
        wait_for(self._healthy, 30, "the dispatch endpoint")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"dispatch exited with {self.process.returncode}; see {self.log_path}")
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def cpu_s(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
