"""A real headless Chromium (Debian's, driven by its chromedriver) for the page's tests.

One browser for the whole session (it takes a second to start); each test gets it with no cookies and
a blank page. A failing test leaves a screenshot and the browser's console in the artifacts folder
(test-artifacts/ at the repository root, or $GRIDWATCH_ARTIFACTS).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
CHROME_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1920,1080", "--lang=zh-CN"]

CALL_FAILED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "console_allows(*texts): console errors containing one of these are expected")


def artifacts_dir() -> Path:
    """test-artifacts/ at the repository root, or $GRIDWATCH_ARTIFACTS."""
    path = Path(os.environ.get("GRIDWATCH_ARTIFACTS") or REPO / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def artifacts() -> Path:
    return artifacts_dir()


@pytest.fixture(scope="session")
def chromium() -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: run the README's set-up (scripts/setup.sh)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # Selenium Manager must never try to download a browser or driver
        options = Options()
        options.binary_location = str(CHROMIUM)
        for arg in CHROME_ARGS:
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture
def browser(chromium: WebDriver, request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    # Cookies ignore the port, so one test's login would leak into the next server's page.
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.get("about:blank")
    chromium.get_log("browser")  # drop what earlier tests logged
    yield chromium
    console = chromium.get_log("browser")
    if request.node.stash.get(CALL_FAILED, False):
        out = artifacts_dir() / f"{request.node.name}-failure"
        chromium.save_screenshot(str(out.with_suffix(".png")))
        lines = [f"{e.get('level')} {e.get('message')}" for e in console]
        out.with_suffix(".console.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    chromium.get("about:blank")  # closes the page's feed before its server stops
    # A page that logs an error has a bug even when it looks right; the login flow's 401s are expected.
    allowed = ["status of 401", *(text for mark in request.node.iter_markers("console_allows") for text in mark.args)]
    errors = [e["message"] for e in console
              if e["level"] == "SEVERE" and not any(text in e["message"] for text in allowed)]
    assert errors == [], "the page logged errors"
