"""The labelling page in a real headless Chromium against the real `gridwatch model review DIR` process: keys and
a mouse drag as a person would use them, and the label files and reviewed.jsonl they leave behind.

The browser is tests/browser/conftest.py's (one Chromium for the session; a failing test leaves a screenshot and
the console in the artifacts folder; a page that logs an error fails).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from models.training.review.folder import FlywheelFolder
from tests.training.test_review_flywheel import decisions, label_rows, write_flywheel
from tests.training.test_review_terminal import GRIDWATCH

# The `browser` fixture (and its session's Chromium), shared with the command-center page's tests.
pytest_plugins = ["tests.browser.conftest"]
WAIT_S = 10


@contextmanager
def review_page(root: Path) -> Iterator[str]:
    """`gridwatch model review ROOT` on a free port; yields the URL it prints."""
    process = subprocess.Popen([GRIDWATCH, "model", "review", str(root)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, f"no URL printed: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
        yield match[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def on_frame(browser: WebDriver, stem: str) -> None:
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-stem")
                                         == stem, f"frame {stem} not shown")


def text(browser: WebDriver, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def wait_text(browser: WebDriver, element_id: str, wanted: str) -> None:
    WebDriverWait(browser, WAIT_S).until(lambda d: wanted in text(d, element_id),
                                         f"#{element_id} never said {wanted!r}")


def press(browser: WebDriver, *keys: str) -> None:
    chain = ActionChains(browser)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def drag(browser: WebDriver, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float, float]:
    """A mouse drag over the canvas between two points given as shares of the image; returns the canvas width and
    height in CSS pixels (for the tolerance) and the pixels' share of a step."""
    canvas = browser.find_element(By.ID, "canvas")
    rect = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];",
                                  canvas)
    w, h = rect
    x0, y0 = round((start[0] - 0.5) * w), round((start[1] - 0.5) * h)  # offsets from the centre
    x1, y1 = round((end[0] - 0.5) * w), round((end[1] - 0.5) * h)
    (ActionChains(browser).move_to_element_with_offset(canvas, x0, y0).click_and_hold()
     .move_by_offset((x1 - x0) // 2, (y1 - y0) // 2).move_by_offset(x1 - x0 - (x1 - x0) // 2, y1 - y0 - (y1 - y0) // 2)
     .release().perform())
    return w, h, 2 / min(w, h)


def test_keys_and_a_mouse_drag_write_the_labels_a_person_meant(browser: WebDriver, tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    stems = write_flywheel(root, {"lift-a": 4})
    model = [label_rows(root / "labels" / f"{s}.txt") for s in stems]
    ebike, person = model[0]
    with review_page(root) as url:
        browser.get(url)
        on_frame(browser, stems[0])
        assert text(browser, "progress") == "0 of 4 reviewed · 0 skipped · frame 1 of 4"
        assert text(browser, "frame-state") == "unreviewed"
        keys = text(browser, "keys")
        for shown in ("Enter", "Backspace, Delete", "Tab", "1 … 9", "n", "s", "← →"):
            assert shown in keys
        assert [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#classes li")] == ["ebike", "person"]
        assert len(browser.find_elements(By.CSS_SELECTOR, "#boxes li")) == 2

        press(browser, Keys.ENTER)  # 1: right as it is
        on_frame(browser, stems[1])
        assert text(browser, "progress") == "1 of 4 reviewed · 0 skipped · frame 2 of 4"

        press(browser, Keys.TAB, Keys.BACKSPACE)  # 2: the e-bike box is a suitcase
        assert len(browser.find_elements(By.CSS_SELECTOR, "#boxes li")) == 1
        assert not browser.find_element(By.ID, "dirty").get_attribute("hidden")
        press(browser, Keys.ENTER)
        on_frame(browser, stems[2])

        # 3: the "person" is a second e-bike, and the model missed a person: draw one, class 2.
        press(browser, Keys.TAB, Keys.TAB, "1")
        *_, tolerance = drag(browser, (0.55, 0.25), (0.95, 0.9))
        press(browser, "2", Keys.ENTER)
        on_frame(browser, stems[3])

        press(browser, "n")  # 4: nothing here
        wait_text(browser, "message", "last frame done: 4 of 4 reviewed, 0 skipped")

        press(browser, Keys.ARROW_LEFT)  # back: the third frame as saved
        on_frame(browser, stems[2])
        assert text(browser, "frame-state") == "correct"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#boxes li")) == 3

    labels = [label_rows(root / "labels" / f"{s}.txt") for s in stems]
    assert labels[0] == model[0]
    assert labels[1] == [person]
    assert labels[2][:2] == [ebike, [0.0, *person[1:]]]
    assert labels[2][2][0] == 1
    assert labels[2][2][1:] == pytest.approx([0.75, 0.575, 0.4, 0.65], abs=tolerance)
    assert labels[3] == []
    assert all(label_rows(root / "prelabels" / f"{s}.txt") == m for s, m in zip(stems, model, strict=True))
    assert [(r["stem"], r["action"], r["via"]) for r in decisions(root)] == [
        (stems[0], "accept", "page"), (stems[1], "correct", "page"), (stems[2], "correct", "page"),
        (stems[3], "empty", "page")]


def test_the_page_resumes_at_the_first_unreviewed_frame_skips_and_guards_unsaved_changes(
        browser: WebDriver, tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    stems = write_flywheel(root, {"lift-a": 2, "lift-b": 2})
    folder = FlywheelFolder(root)
    folder.decide(folder.frame(stems[0]), "empty", via="terminal")
    folder.decide(folder.frame(stems[1]), "skip", via="terminal")
    (root / "images" / f"{stems[2]}.jpg").write_bytes(b"\xff\xd8 a camera that wrote half a frame")
    model_last = (root / "labels" / f"{stems[3]}.txt").read_bytes()

    with review_page(root) as url:
        browser.get(url)
        on_frame(browser, stems[2])
        assert text(browser, "progress") == "1 of 4 reviewed · 1 skipped · frame 3 of 4"
        assert text(browser, "error") == (f"images/{stems[2]}.jpg: not a readable image (corrupt or truncated?) "
                                          "· s skips it")
        press(browser, Keys.ENTER)  # cannot be saved
        wait_text(browser, "message", "this frame cannot be labelled: s skips it")
        press(browser, "s")
        on_frame(browser, stems[3])
        assert not browser.find_element(By.ID, "error").is_displayed()
        assert text(browser, "progress") == "1 of 4 reviewed · 2 skipped · frame 4 of 4"

        press(browser, Keys.TAB, Keys.DELETE, Keys.ARROW_LEFT)  # an edit, then away: asked first
        wait_text(browser, "message", "unsaved changes")
        assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-stem") == stems[3]
        press(browser, Keys.ARROW_LEFT)
        on_frame(browser, stems[2])
        assert (root / "labels" / f"{stems[3]}.txt").read_bytes() == model_last, "a change not saved is not written"

        browser.refresh()  # a new visit starts at the first frame nobody decided about ...
        on_frame(browser, stems[3])
        assert len(browser.find_elements(By.CSS_SELECTOR, "#boxes li")) == 2, "the change left is forgotten"
        press(browser, Keys.ENTER)
        wait_text(browser, "message", "last frame done: 2 of 4 reviewed, 2 skipped")
        browser.refresh()  # ... and once there is none, at the first one skipped
        on_frame(browser, stems[1])
        assert text(browser, "frame-state") == "skip"

    assert (root / "labels" / f"{stems[3]}.txt").read_bytes() == model_last
    assert [(r["stem"], r["action"]) for r in decisions(root)] == [
        (stems[0], "empty"), (stems[1], "skip"), (stems[2], "skip"), (stems[3], "accept")]


def test_only_this_machine_s_pages_may_decide(tmp_path: Path) -> None:
    """Another web page open in the same browser can neither read the server through a DNS name pointing at
    127.0.0.1 (the Host header is checked) nor post a decision with a plain form (JSON only)."""
    root = tmp_path / "unsure"
    stems = write_flywheel(root, {"lift-a": 1})
    with review_page(root) as url:
        assert httpx.get(f"{url}api/folder").json()["frames"] == [{"stem": stems[0], "state": "unreviewed"}]
        assert httpx.get(f"{url}api/folder", headers={"Host": "rebound.example:80"}).status_code == 400
        form = httpx.post(f"{url}api/frames/{stems[0]}", content='{"action": "empty"}',
                          headers={"Content-Type": "text/plain"})
        assert form.status_code == 422
        assert httpx.get(f"{url}api/frames/..%2Fdata").status_code == 404
        page = httpx.get(url)
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not (root / "reviewed.jsonl").exists()
