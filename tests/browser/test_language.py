"""Alert text in the reader's language: the card and the panel word the alert's structured reason fully in
Chinese or English (chosen by `?lang=`), a cleared card keeps its title and what it was."""

from __future__ import annotations

import base64
import re

import cv2
import httpx
import numpy as np
from selenium.webdriver.remote.webdriver import WebDriver

from dispatch.server import ServerHandle
from rules.reason import with_cleared_reason, with_reason
from tests.browser.test_page import OPERATOR, BoardPage, dispatch, make_alert, post, start_dispatch, wait_until

__all__ = ["dispatch", "start_dispatch"]  # fixtures used here

TAP = {"minutes": 45.0, "litres": 419.0, "avg_lpm": 9.32, "since": "2026-03-01T07:15:00Z"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def tap_alert(n: int, *, cleared: bool = False):
    evidence = with_reason("water.tap_open", f"m-{n:03d}", TAP)
    if cleared:
        evidence = {**evidence, **with_cleared_reason("water.tap_open", f"m-{n:03d}", {"cleared_by": "flow_dropped"})}
    return make_alert(n, alert_type="water.tap_open", severity="critical", state="cleared" if cleared else "active",
                      revision=2 if cleared else 1, evidence=evidence,
                      summary=f"Tap open at meter m-{n:03d}: 9.3 L/min for 45 min (419 L) since 2026-03-01T07:15:00Z"
                      if not cleared else f"Flow back under 2 L/min at meter m-{n:03d}")


def test_the_url_chooses_english_and_every_card_reads_fully_in_it(browser: WebDriver, dispatch: ServerHandle) -> None:
    active, was = tap_alert(21), tap_alert(22)
    post(dispatch, active)
    post(dispatch, was)
    post(dispatch, tap_alert(22, cleared=True))
    board = BoardPage(browser, dispatch.url)
    browser.get(f"{dispatch.url}/?lang=en#token={OPERATOR}")
    board.wait_live()
    assert board.text("h1") == "Grid alert command center"
    card = board.card(active.id)
    assert card["type"] == "Tap left open"
    assert re.fullmatch(r"Tap open for 45 min at 9\.3 L/min \(419 L\) since \d\d-\d\d \d\d:\d\d", card["summary"]), card
    # The cleared card still says what it was under its own title, then that the device recovered, and why.
    gone = board.card(was.id)
    assert gone["type"] == "Tap left open" and gone["summary"].startswith("Tap open for 45 min"), gone
    assert board.js("return document.querySelector(`[data-id='${arguments[0]}'] .ended`).textContent", was.id) \
        == "Device recovered: Flow back to normal"
    # No Chinese left in what the page itself says (the registry's names are names).
    words = board.js("return [...document.querySelectorAll('.card .type, .card .summary, .card .ended, .card .state,"
                     " .card .sla, .card .badge, .figure .label, #conn .text, .empty')].map(e => e.textContent)")
    assert words and not [w for w in words if CJK.search(w)], words

    browser.get(f"{dispatch.url}/?lang=zh")
    board.wait_live()
    card = board.card(active.id)
    assert card["type"] == "水龙头未关" and card["summary"].startswith("水龙头持续开启 45 分钟，每分钟 9.3 升"), card
    board.click(f'#board [data-id="{was.id}"]')
    wait_until(lambda: board.text("#panel .ended") == "设备已恢复：水流已回落", what="why it ended, in the panel")
    rows = board.js("return [...document.querySelectorAll('#panel .evidence dt')].map(e => e.textContent)")
    assert "平均流量" in rows and "reason" not in rows and "cleared_by" not in rows, rows


def test_the_clip_plays_as_an_animated_preview_and_lists_stay_small(browser: WebDriver, dispatch: ServerHandle) -> None:
    frames = [base64.b64encode(cv2.imencode(".jpg", np.full((135, 240, 3), shade, np.uint8))[1].tobytes()).decode()
              for shade in (40, 120, 200)]
    evidence = with_reason("elevator.ebike", "elev-81", {"bikes": 1, "door": "open", "median_score": 0.9})
    evidence |= {"clip": "/var/lib/gridwatch/evidence/el_81.mp4", "clip_frames": 75, "clip_s": 14.8,
                 "clip_preview_jpeg_b64": frames}
    alert = make_alert(81, alert_type="elevator.ebike", severity="critical", evidence=evidence)
    post(dispatch, alert)
    listed = httpx.get(dispatch.alerts_url, headers={"Authorization": f"Bearer {OPERATOR}"}).json()["alerts"]
    assert "clip_preview_jpeg_b64" not in listed[0]["evidence"] and listed[0]["evidence"]["clip_frames"] == 75

    board = BoardPage(browser, dispatch.url)
    board.open(token=OPERATOR)
    board.wait_live()
    board.click(f'#board [data-id="{alert.id}"]')
    seen = set()

    def played_all() -> bool:
        seen.add(board.js("const i = document.querySelector('#panel .clip-preview');"
                          "return i && i.complete && i.naturalWidth === 240 ? i.dataset.frame ?? '0' : null"))
        return {"0", "1", "2"} <= seen

    wait_until(played_all, timeout=5, what="the preview playing its three frames")
    caption = board.text("#panel .clip figcaption")
    assert caption.startswith("现场录像 · 14.8 秒") and "/var/lib/gridwatch/evidence/el_81.mp4" in caption, caption
