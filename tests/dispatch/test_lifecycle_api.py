"""The loop over real HTTP: who may call what (401/403/404/409), the cookie the page logs in
with, today's figures, and a restart of dispatch in the middle of the loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from dispatch.config import DispatchConfig
from dispatch.server import ServerHandle, start_in_thread
from dispatch.sla import SeverityDeadlines, SlaConfig
from tests.dispatch.loop_helpers import EDGE, OPERATOR, TOKENS, bearer, loop_registry, make_alert


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ServerHandle]]:
    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR)
    handles: list[ServerHandle] = []

    def run(sla: SlaConfig | None = None) -> ServerHandle:
        config = DispatchConfig(listen="127.0.0.1:0", state_dir=tmp_path / "dispatch", sla=sla or SlaConfig())
        handles.append(start_in_thread(config, loop_registry()))
        return handles[-1]

    yield run
    for handle in handles:
        handle.stop()


def call(handle: ServerHandle, alert_id: str, action: str, token: str | None, **body: object) -> httpx.Response:
    return httpx.post(f"{handle.alerts_url}/{alert_id}/{action}", json=body or None, headers=bearer(token), timeout=5)


def post(handle: ServerHandle, alert: object) -> httpx.Response:
    return httpx.post(handle.alerts_url, content=alert.to_json(), headers=bearer(EDGE), timeout=5)


@pytest.mark.parametrize(
    ("token", "action", "body", "status"),
    [
        (None, "accept", {}, 401),
        ("not-a-token", "accept", {}, 401),
        (EDGE, "accept", {}, 403),
        (OPERATOR, "accept", {}, 403),  # only the assigned worker
        (TOKENS["w2"], "accept", {}, 403),  # same grid, not assigned
        (TOKENS["w9"], "accept", {}, 403),  # another grid
        (TOKENS["w1"], "arrive", {}, 409),  # accept first
        (TOKENS["w1"], "rate", {"score": 5}, 403),  # operators rate
        (OPERATOR, "rate", {"score": 5}, 409),  # not resolved yet
        (OPERATOR, "rate", {"score": 9}, 422),
        (TOKENS["w1"], "teleport", {}, 404),
    ],
)
def test_who_may_not(start: Callable[..., ServerHandle], token: str | None, action: str, body: dict,
                     status: int) -> None:
    dispatch = start()
    alert = make_alert()
    post(dispatch, alert)
    response = call(dispatch, alert.id, action, token, **body)
    assert response.status_code == status, response.text
    assert httpx.get(f"{dispatch.alerts_url}/{alert.id}", headers=bearer(OPERATOR)).json()["dispatch"]["state"] \
        == "dispatched"


def test_the_loop_over_http_survives_a_restart(start: Callable[..., ServerHandle]) -> None:
    dispatch = start()
    alert = make_alert()
    assert post(dispatch, alert).status_code == 201
    w1 = TOKENS["w1"]
    assert call(dispatch, alert.id, "accept", w1, note="收到").json()["dispatch"]["state"] == "accepted"
    assert call(dispatch, alert.id, "accept", w1).status_code == 200  # a phone's retry: no harm
    dispatch.stop()

    dispatch = start()
    assert call(dispatch, alert.id, "arrive", w1).json()["dispatch"]["state"] == "on_site"
    assert call(dispatch, alert.id, "resolve", w1, note="阀门已关").json()["dispatch"]["state"] == "resolved"
    rated = call(dispatch, alert.id, "rate", OPERATOR, score=5, note="处置及时")
    assert rated.json()["dispatch"]["state"] == "rated" and rated.json()["dispatch"]["score"] == 5
    detail = httpx.get(f"{dispatch.alerts_url}/{alert.id}", headers=bearer(w1)).json()
    assert [(t["action"], t["actor"]) for t in detail["transitions"]] == [
        ("dispatch", "system"), ("accept", "worker:w1"), ("arrive", "worker:w1"), ("resolve", "worker:w1"),
        ("rate", "operator")]
    assert detail["transitions"][1]["note"] == "收到"


def test_a_worker_reads_only_its_grids(start: Callable[..., ServerHandle]) -> None:
    dispatch = start()
    mine, theirs = make_alert(0), make_alert(1, building="b2", grid="g2")
    for alert in (mine, theirs):
        post(dispatch, alert)
    listed = httpx.get(dispatch.alerts_url, headers=bearer(TOKENS["w1"])).json()
    assert [a["id"] for a in listed["alerts"]] == [mine.id]
    assert httpx.get(f"{dispatch.alerts_url}/{theirs.id}", headers=bearer(TOKENS["w1"])).status_code == 403
    assert httpx.get(dispatch.alerts_url, params={"grid": "g2"}, headers=bearer(TOKENS["w1"])).status_code == 403
    assert httpx.get(dispatch.alerts_url, headers=bearer(EDGE)).status_code == 403


def test_the_page_logs_in_with_a_cookie(start: Callable[..., ServerHandle]) -> None:
    dispatch = start()
    alert = make_alert()
    post(dispatch, alert)
    with httpx.Client(base_url=dispatch.url) as browser:
        assert browser.get("/api/v1/alerts").status_code == 401
        assert browser.post("/api/v1/session", headers=bearer(EDGE)).status_code == 403
        login = browser.post("/api/v1/session", headers=bearer(TOKENS["w1"]))
        assert login.status_code == 204
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert browser.get("/api/v1/session").json() == {"role": "worker", "worker_id": "w1", "grids": ["g1"]}
        page = {"Origin": dispatch.url}  # a browser sends it on every POST and DELETE (dispatch.request_origin)
        assert browser.post(f"/api/v1/alerts/{alert.id}/accept", headers=page).status_code == 200  # with the cookie
        browser.delete("/api/v1/session", headers=page)
        assert browser.get("/api/v1/alerts").status_code == 401


def test_todays_figures(start: Callable[..., ServerHandle]) -> None:
    dispatch = start()
    alerts = [make_alert(n) for n in range(3)] + [make_alert(9, building="b-none", grid=None, severity="critical")]
    for alert in alerts:
        post(dispatch, alert)
    first = httpx.get(f"{dispatch.alerts_url}/{alerts[0].id}", headers=bearer(OPERATOR)).json()
    worker = TOKENS[first["dispatch"]["assignee"]]
    call(dispatch, alerts[0].id, "accept", worker)
    call(dispatch, alerts[0].id, "resolve", worker)
    figures = httpx.get(f"{dispatch.url}/api/v1/stats", headers=bearer(OPERATOR)).json()
    assert (figures["received"], figures["dispatched"], figures["accepted"], figures["resolved"]) == (4, 3, 1, 1)
    assert figures["completion_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert figures["response_s_p50"] is not None and figures["response_s_p50"] >= 0
    assert figures["active_by_grid"] == {"g1": {"critical": 0, "warning": 2, "info": 0},
                                         "unassigned": {"critical": 1, "warning": 0, "info": 0}}
    # The wall's strip: today's alerts by type and by local hour (received now, so all in this hour).
    assert figures["received_by_type"] == {alerts[0].type: 4}
    hour = datetime.now(ZoneInfo(figures["timezone"])).hour
    assert len(figures["received_by_hour"]) == 24 and figures["received_by_hour"][hour] == 4
    mine = httpx.get(f"{dispatch.url}/api/v1/stats", headers=bearer(TOKENS["w9"])).json()
    assert mine["received"] == 0 and mine["active_by_grid"] == {} and mine["received_by_type"] == {}


def test_an_ignored_alert_escalates_on_the_wall_clock(start: Callable[..., ServerHandle]) -> None:
    fast = SeverityDeadlines(accept_min=0.01, resolve_min=10)  # 0.6 s to accept
    dispatch = start(SlaConfig(critical=fast, warning=fast, info=fast))
    alert = make_alert(severity="critical")
    post(dispatch, alert)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        detail = httpx.get(f"{dispatch.alerts_url}/{alert.id}", headers=bearer(OPERATOR)).json()
        if detail["dispatch"]["escalation"] == 2:
            break
        time.sleep(0.1)
    assert detail["dispatch"]["escalation"] == 2
    assert [t["assignee"] for t in detail["transitions"] if t["action"] == "escalate"] == ["lead", "st1"]
