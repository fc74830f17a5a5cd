"""The wall mode (`/?wall=1&lang=zh`) in a real headless Chromium at 1920x1080 and 3840x2160: sized from the
viewport so it reads at 5 m, columns weighted by their load, nothing cut off, today's strip and the building view;
a new critical alert flashes and chimes once; long columns scroll by themselves. Screenshots are kept in the
artifacts folder (test-artifacts/, git-ignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from dispatch.server import ServerHandle
from rules.reason import with_reason
from tests.browser.test_page import (
    OPERATOR,
    BoardPage,
    dispatch,
    make_alert,
    png_size,
    post,
    start_dispatch,
    wait_until,
)

__all__ = ["dispatch", "start_dispatch"]  # fixtures used here

# At 5 m a character needs about 1/40 of a 1080p screen's height to be read comfortably (the card's sentence);
# the same share on a 4K wall, so it is as readable there.
MIN_TEXT_SHARE = 0.024


@pytest.fixture
def viewport(browser: WebDriver) -> Iterator[callable]:
    def set_size(width: int, height: int) -> None:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    yield set_size
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def reasoned(n: int, alert_type: str, evidence: dict, **kw):
    subject = f"elev-{n}" if alert_type.startswith("elevator") else f"m-{n:03d}"
    return make_alert(n, alert_type=alert_type, evidence=with_reason(alert_type, subject, evidence), **kw)


def busy_board(dispatch: ServerHandle) -> list:
    """Grid g1 busy (6 alerts of four kinds in two buildings), g2 with one, nothing unassigned."""
    since = "2026-03-01T07:15:00Z"
    alerts = [
        reasoned(31, "elevator.ebike", {"bikes": 1, "door": "open", "median_score": 0.87}, severity="critical"),
        reasoned(32, "water.tap_open", {"minutes": 45.0, "litres": 419.0, "avg_lpm": 9.3, "since": since},
                 severity="critical"),
        reasoned(33, "water.no_usage", {"quiet_h": 14.5, "used_l": 0.4, "max_l": 2.0, "since": since}),
        reasoned(34, "water.no_usage", {"quiet_h": 13.0, "used_l": 0.0, "max_l": 2.0, "since": since}),
        reasoned(35, "water.continuous_flow", {"hours": 26.0, "litres": 812.0, "since": since}),
        reasoned(36, "water.meter_offline", {"silent_h": 6.2, "last_reading": since, "interval_min": 15.0},
                 severity="info", building="b2"),
        reasoned(37, "water.spike", {"litres": 1800.0, "hours": 5.0, "limit_l": 600.0, "since": since},
                 building="b2"),
    ]
    for alert in alerts:
        post(dispatch, alert)
    return alerts


LAYOUT_JS = """
const px = (e, p) => parseFloat(getComputedStyle(e)[p]);
const cut = (e) => e.scrollWidth > e.clientWidth + 1;
const col = (q) => document.querySelector(`.column[data-queue="${q}"]`).getBoundingClientRect().width;
const cards = [...document.querySelectorAll('#board .card')];
return {
  inner: [innerWidth, innerHeight],
  pageWidth: document.documentElement.scrollWidth,
  boardWidth: document.querySelector('#board').getBoundingClientRect().width,
  stripBottom: document.querySelector('#strip').getBoundingClientRect().bottom,
  stripTop: document.querySelector('#strip').getBoundingClientRect().top,
  summaryPx: Math.min(...cards.map((c) => px(c.querySelector('.summary'), 'fontSize'))),
  typePx: Math.min(...cards.map((c) => px(c.querySelector('.type'), 'fontSize'))),
  cut: cards.flatMap((c) => [...c.querySelectorAll('.type, .sla, .summary, .where, .state')])
    .filter(cut).map((e) => e.className + ': ' + e.textContent),
  // a title is one line: the clock goes below it rather than break it
  brokenTitles: cards.map((c) => c.querySelector('.type'))
    .filter((e) => e.getBoundingClientRect().height > 1.5 * px(e, 'lineHeight')).map((e) => e.textContent),
  headerCut: [...document.querySelectorAll('#top .figure .label, #top .figure .value, #top h1')]
    .filter(cut).map((e) => e.textContent),
  columns: {g1: col('g1'), g2: col('g2'), unassigned: col('unassigned')},
  byType: [...document.querySelectorAll('#today-figures .chip')]
    .map((c) => [c.dataset.type, c.querySelector('b').textContent]),
  bars: document.querySelectorAll('#today-figures .bar').length,
  buildings: [...document.querySelectorAll('#buildings .building')]
    .map((b) => [b.dataset.building, b.querySelector('b').textContent]),
};
"""


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160)], ids=["1080p", "4k"])
def test_the_wall_scales_to_the_screen_and_reads_from_5_m(browser: WebDriver, dispatch: ServerHandle, viewport,
                                                          artifacts: Path, size: tuple[int, int], lang: str) -> None:
    alerts = busy_board(dispatch)
    viewport(*size)
    board = BoardPage(browser, dispatch.url)
    browser.get(f"{dispatch.url}/?wall=1&lang={lang}#token={OPERATOR}")
    board.wait_live()
    wait_until(lambda: board.js("return document.querySelectorAll('#today-figures .chip').length") >= 5,
               what="today's figures by type")
    layout = board.js(LAYOUT_JS)
    width, height = size
    assert layout["inner"] == [width, height]
    # Sized from the viewport: the card's sentence is as large a share of a 4K wall as of a 1080p one.
    assert layout["summaryPx"] >= MIN_TEXT_SHARE * height, layout
    assert layout["typePx"] >= 0.028 * height, layout
    # It fills the screen, with no horizontal scrolling and nothing cut off or broken a word a line.
    assert layout["pageWidth"] <= width and layout["boardWidth"] >= 0.97 * width, layout
    assert height * 0.6 < layout["stripTop"] < layout["stripBottom"] <= height, layout  # the strip in view, below
    assert layout["cut"] == [] and layout["brokenTitles"] == [] and layout["headerCut"] == [], layout
    # Columns weighted by load: the busy grid is wider than the quiet one, the empty queue narrowest.
    columns = layout["columns"]
    assert columns["g1"] > 1.5 * columns["g2"] and columns["g2"] > 1.3 * columns["unassigned"], columns
    # Today's strip by type and hour, and which buildings have open alerts (most first).
    assert dict(layout["byType"]) == {"water.no_usage": "2", "elevator.ebike": "1", "water.tap_open": "1",
                                      "water.continuous_flow": "1", "water.meter_offline": "1", "water.spike": "1"}
    assert layout["bars"] == 24
    assert layout["buildings"] == [["b1", str(len(alerts) - 2)], ["b2", "2"]]

    shot = artifacts / f"wall-{width}x{height}-{lang}.png"
    shot.unlink(missing_ok=True)
    assert browser.save_screenshot(str(shot))
    assert png_size(shot) == size
    print(f"wall screenshot: {shot}")


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["laptop", "1080p"])
def test_the_desk_page_in_english_cuts_nothing(browser: WebDriver, dispatch: ServerHandle, viewport,
                                               artifacts: Path, size: tuple[int, int]) -> None:
    busy_board(dispatch)
    viewport(*size)
    board = BoardPage(browser, dispatch.url)
    browser.get(f"{dispatch.url}/?lang=en#token={OPERATOR}")
    board.wait_live()
    layout = board.js(LAYOUT_JS)
    assert layout["pageWidth"] <= size[0], layout
    assert layout["cut"] == [] and layout["brokenTitles"] == [] and layout["headerCut"] == [], layout
    shot = artifacts / f"desk-{size[0]}x{size[1]}-en.png"
    assert browser.save_screenshot(str(shot))
    print(f"desk screenshot: {shot}")


def chimes(board: BoardPage) -> int:
    return int(board.js("return document.body.dataset.chimes ?? '0'"))


def flashing(board: BoardPage, alert_id: str) -> bool:
    return board.js("return !!document.querySelector(`[data-id='${arguments[0]}']`)?.classList.contains('flash')",
                    alert_id)


def test_a_new_critical_alert_flashes_and_chimes_once_on_the_wall(browser: WebDriver, dispatch: ServerHandle) -> None:
    before = make_alert(40, severity="critical")
    post(dispatch, before)  # on the board before the screen opens: no chime for it on load
    board = BoardPage(browser, dispatch.url)
    browser.get(f"{dispatch.url}/?wall=1#token={OPERATOR}")
    board.wait_live()
    assert chimes(board) == 0 and not flashing(board, before.id)

    critical = make_alert(41, severity="critical")
    post(dispatch, critical)
    wait_until(lambda: flashing(board, critical.id), what="the new critical card flashing")
    assert chimes(board) == 1
    post(dispatch, make_alert(41, severity="critical", revision=2, evidence={"silent_h": 13}))  # an update
    post(dispatch, make_alert(42, severity="warning"))  # not critical
    wait_until(lambda: board.card(make_alert(42).id), what="the warning card")
    assert chimes(board) == 1 and not flashing(board, make_alert(42).id)
    # A warning that turns critical is new as a critical alert: it rings too.
    post(dispatch, make_alert(42, severity="critical", revision=2))
    wait_until(lambda: chimes(board) == 2, what="the second chime")


@pytest.mark.parametrize(("query", "rings"), [("", False), ("?chime=1", True)], ids=["desk", "desk-chime-on"])
def test_on_a_desk_the_chime_is_off_unless_asked_for(browser: WebDriver, dispatch: ServerHandle, query: str,
                                                     rings: bool) -> None:
    board = BoardPage(browser, dispatch.url)
    browser.get(f"{dispatch.url}/{query}#token={OPERATOR}")
    board.wait_live()
    critical = make_alert(43, severity="critical")
    post(dispatch, critical)
    wait_until(lambda: board.card(critical.id), what="the critical card")
    board.js("return 0")  # let the feed's handler finish
    assert chimes(board) == (1 if rings else 0)


def test_long_columns_scroll_by_themselves_on_the_wall(browser: WebDriver, dispatch: ServerHandle, viewport) -> None:
    for n in range(50, 66):
        post(dispatch, make_alert(n, building="b1"))
    viewport(1920, 1080)
    board = BoardPage(browser, dispatch.url)
    browser.get(f"{dispatch.url}/?wall=1#token={OPERATOR}")
    board.wait_live()
    column = "document.querySelector('.column[data-queue=\"g1\"] .cards')"
    assert board.js(f"return {column}.scrollHeight > {column}.clientHeight")
    wait_until(lambda: board.js(f"return {column}.scrollTop") > 20, timeout=12, what="the long column scrolling")
    # A column that fits stays still.
    assert board.js("return document.querySelector('.column[data-queue=\"g2\"] .cards').scrollTop") == 0
