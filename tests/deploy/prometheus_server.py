"""A real Prometheus (Debian's `prometheus`) on a free loopback port, scraping the targets it is given."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from edge.broker import free_port


def find_prometheus() -> str | None:
    return shutil.which("prometheus")


class Prometheus:
    def __init__(self, folder: Path, jobs: dict[str, list[str]], rule_files: list[Path], interval_ms: int = 1000):
        """`jobs`: job name -> host:port targets, scraped at /metrics every `interval_ms`."""
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": f"{interval_ms}ms", "evaluation_interval": f"{interval_ms}ms",
                       "scrape_timeout": f"{interval_ms}ms"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}
                               for job, targets in jobs.items()],
        }
        self.config_path = folder / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log_path = folder / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [find_prometheus() or "prometheus", f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=self.url, timeout=5)
        self._wait_ready(30)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus not ready after {timeout_s} s: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.1)

    def api(self, path: str, **params: str) -> Any:
        body = self.client.get(f"/api/v1/{path}", params=params).raise_for_status().json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query: {sorted labels without __name__: value}."""
        return {
            tuple(sorted((k, v) for k, v in item["metric"].items() if k != "__name__")): float(item["value"][1])
            for item in self.api("query", query=expr)["result"]
        }

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
