"""Operator actions on the page: assign and reassign with the duty roster shown, rate with a note, through the
API the phones use; a refusal (403) is shown as a message. The filter bar and the search by subject or building."""

from __future__ import annotations

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from dispatch.server import ServerHandle
from tests.browser.test_page import (
    OPERATOR,
    TOKENS,
    BoardPage,
    act,
    assignee,
    dispatch,
    make_alert,
    post,
    start_dispatch,
    wait_until,
)

__all__ = ["dispatch", "start_dispatch"]  # fixtures used here


def open_panel(board: BoardPage, alert_id: str) -> None:
    board.click(f'[data-id="{alert_id}"]')
    wait_until(lambda: board.js("return document.querySelector('#panel .detail-head')?.dataset.id") == alert_id,
               what="the alert's panel")


def submit(board: BoardPage, action: str, choice: str | None = None, note: str = "") -> str:
    def start_with_the_form() -> bool:  # a person starts with the form: from then on it stays put
        try:
            board.driver.find_element(By.CSS_SELECTOR, f'#panel form[data-action="{action}"] [name="note"]').click()
        except StaleElementReferenceException:  # the panel redrew for a feed event just then
            return False
        return True

    wait_until(start_with_the_form, what=f"the {action} form")
    form = board.driver.find_element(By.CSS_SELECTOR, f'#panel form[data-action="{action}"]')
    if choice is not None:
        Select(form.find_element(By.TAG_NAME, "select")).select_by_value(choice)
    if note:
        form.find_element(By.NAME, "note").send_keys(note)
    form.find_element(By.TAG_NAME, "button").click()
    return wait_until(lambda: board.text("#panel .action-message"), what=f"the answer to {action}")


def test_an_operator_assigns_the_unassigned_queue_and_reassigns_from_the_roster(
        browser: WebDriver, dispatch: ServerHandle) -> None:
    nobody = make_alert(70, building="b-none")
    post(dispatch, nobody)
    board = BoardPage(browser, dispatch.url)
    board.open(token=OPERATOR)
    board.wait_live()
    assert board.card(nobody.id)["queue"] == "unassigned" and board.card(nobody.id)["assignee"] is None
    open_panel(board, nobody.id)
    assert board.text('#panel form[data-action="assign"] button') == "指派"
    assert submit(board, "assign", "w2", note="请就近处理") == "已完成"
    wait_until(lambda: board.card(nobody.id)["assignee"] == "李娜", what="the assignee on the card")
    assert assignee(dispatch, nobody) == "w2"

    # Reassigning a grid's alert: the roster lists who is on duty first.
    mine = make_alert(71, building="b1")
    post(dispatch, mine)
    wait_until(lambda: board.card(mine.id), what="the grid's card")
    open_panel(board, mine.id)
    options = board.js("return [...document.querySelectorAll('#panel form[data-action=\"assign\"] option')]"
                       ".map(o => [o.value, o.textContent])")
    assert options[:2] == [["w1", "张伟 · 值班中"], ["lead", "王强 · 网格长"]], options
    assert board.text('#panel form[data-action="assign"] button') == "改派"
    assert submit(board, "assign", "lead") == "已完成"
    wait_until(lambda: board.card(mine.id)["assignee"] == "王强", what="the reassigned card")
    steps = board.js("return [...document.querySelectorAll('#panel .timeline .label')].map(e => e.textContent)")
    assert "指派 → 王强" in steps, steps


@pytest.mark.console_allows("status of 403")  # the browser logs the refusal the page then shows
def test_rating_a_resolved_case_and_a_refusal_shown_as_a_message(browser: WebDriver, dispatch: ServerHandle) -> None:
    alert = make_alert(72, building="b1")
    post(dispatch, alert)
    for action in ("accept", "arrive", "resolve"):
        act(dispatch, alert, action, TOKENS["w1"])
    board = BoardPage(browser, dispatch.url)
    board.open(token=OPERATOR)
    board.wait_live()
    board.click(f'#recent-items [data-id="{alert.id}"]')
    wait_until(lambda: board.visible('#panel form[data-action="rate"]'), what="the rate form")
    assert submit(board, "rate", "4", note="处置及时") == "已完成"
    rated = httpx.get(f"{dispatch.alerts_url}/{alert.id}", headers={"Authorization": f"Bearer {OPERATOR}"}).json()
    assert rated["dispatch"]["score"] == 4 and rated["transitions"][-1]["note"] == "处置及时"

    # A grid worker may not rate: the page asks the server, and shows its 403 as a sentence.
    board.click("#logout")
    wait_until(lambda: board.visible("#login"), what="the login")
    browser.find_element(By.ID, "token").send_keys(TOKENS["w1"], Keys.ENTER)
    board.wait_live()
    board.click(f'#recent-items [data-id="{alert.id}"]')
    wait_until(lambda: board.visible('#panel form[data-action="rate"]'), what="the rate form")
    answer = submit(board, "rate", "1")
    assert answer.startswith("无权操作：") and len(answer) > len("无权操作："), answer
    assert board.js("return document.querySelector('#panel .action-message').dataset.status") == "403"


def test_filters_and_the_search_by_subject_or_building(browser: WebDriver, dispatch: ServerHandle) -> None:
    a = make_alert(73, building="b1", severity="critical")
    b = make_alert(74, building="b2", alert_type="water.tap_open")
    c = make_alert(75, building="b2")
    for alert in (a, b, c):
        post(dispatch, alert)
    board = BoardPage(browser, dispatch.url)
    board.open(token=OPERATOR)
    board.wait_live()
    shown = lambda: sorted(card["id"] for card in board.cards())  # noqa: E731
    assert shown() == sorted([a.id, b.id, c.id])

    def choose(name: str, value: str) -> None:
        Select(browser.find_element(By.CSS_SELECTOR, f'#filters select[name="{name}"]')).select_by_value(value)

    choose("grid", "g2")
    wait_until(lambda: shown() == sorted([b.id, c.id]), what="grid g2 only")
    choose("type", "water.tap_open")
    wait_until(lambda: shown() == [b.id], what="g2's tap alerts")
    choose("grid", "")
    choose("type", "")
    choose("severity", "critical")
    wait_until(lambda: shown() == [a.id], what="critical only")
    choose("severity", "")
    choose("state", "accepted")
    wait_until(lambda: shown() == [], what="no accepted alert")
    choose("state", "")
    search = browser.find_element(By.ID, "filter-q")
    search.send_keys("西园")  # a building's name
    wait_until(lambda: shown() == sorted([b.id, c.id]), what="the building search")
    search.clear()
    search.send_keys(a.subject)
    wait_until(lambda: shown() == [a.id], what="the subject search")
    search.clear()
    search.send_keys(" ")
    search.clear()
    # The building view filters too: a click shows one building's alerts, a second click all again.
    browser.execute_script("document.querySelector('#filter-q').dispatchEvent(new Event('input', {bubbles: true}))")
    wait_until(lambda: len(shown()) == 3, what="all again")
    board.click('#buildings [data-building="b1"]')
    wait_until(lambda: shown() == [a.id], what="building b1 from the building view")
