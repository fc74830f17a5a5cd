"""The README's two commands: the demo's set-up installs the runtime and the `dev` extra only (no 6 GB of torch);
the tests' set-up adds the `train` extra and the test programs. scripts/setup.sh is run for real, with stand-ins
for what cannot run here (apt-get, and the venv's pip: installing torch takes minutes and gigabytes)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ["mosquitto", "victoria-metrics", "mosquitto_sub", "curl", "chromium", "chromedriver"]


def test_the_readme_names_two_commands_and_what_each_installs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).splitlines()
    assert block == ["bash scripts/setup.sh && .venv/bin/gridwatch demo",
                     "bash scripts/setup.sh --test && .venv/bin/python -m pytest"]
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()[-1] == block[1]


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """A copy of the set-up script and pyproject.toml, a venv whose python only logs what pip is asked, and every
    system program present (so apt-get, a logging stand-in too, is called only for what the mode needs)."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    fake = f'#!/bin/sh\necho "$(basename "$0") $*" >> {log}\n'
    for name in [*TOOLS, "apt-get"]:
        (bin_dir / name).write_text(fake)
        (bin_dir / name).chmod(0o755)
    (venv_bin / "python").write_text(fake)  # stand-in: `python -c "import cv2"` succeeds, pip calls are logged
    (venv_bin / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return repo, env, log


def run_setup(repo: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["bash", "scripts/setup.sh", *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def installs(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if " install " in line and "-e" in line] \
        if log.exists() else []


def test_the_demo_setup_installs_no_training_extra_and_the_test_setup_adds_it(checkout) -> None:
    repo, env, log = checkout
    run_setup(repo, env)
    assert installs(log) == ["python -m pip install -q -e .[dev]"]
    assert "apt-get" not in log.read_text()  # Mosquitto is there: the demo needs no other system package

    run_setup(repo, env, "--test")
    assert installs(log)[-1] == "python -m pip install -q -e .[dev,train]"
    # The demo after a test set-up has all it needs: nothing is installed again, nothing removed.
    count = len(installs(log))
    assert "ready" in run_setup(repo, env)
    assert len(installs(log)) == count


def test_an_unknown_option_is_refused(checkout) -> None:
    repo, env, _ = checkout
    done = subprocess.run(["bash", "scripts/setup.sh", "--tset"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "usage: bash scripts/setup.sh [--test]" in done.stderr
