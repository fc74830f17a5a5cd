"""The dispatch endpoint over real HTTP: uvicorn on a free port, httpx, SQLite under tmp_path."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from dispatch.app import create_app
from dispatch.auth import AuthConfigError
from dispatch.config import AuthConfig, DispatchConfig
from dispatch.server import ServerHandle
from dispatch.store import supersedes
from ingest.registry import Registry
from ingest.wire.alert import Alert, episode_id

EDGE, OPERATOR, W1, W3 = "edge-secret", "operator-secret", "worker-1-secret", "worker-3-secret"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


REGISTRY = Registry.model_validate(
    {
        "grids": [{"id": "g1", "workers": ["w1"]}, {"id": "g2", "workers": ["w2"], "leader": "w3"}],
        "workers": [
            {"id": "w1", "token_sha256": sha(W1)},
            {"id": "w2"},
            {"id": "w3", "token_sha256": sha(W3)},
        ],
        "buildings": [{"id": "b1", "grid": "g1"}, {"id": "b2", "grid": "g2"}],
    }
)


def make_alert(n: int = 0, *, state: str = "active", revision: int | None = 1, grid: str | None = "g1",
               alert_type: str = "water.no_usage", severity: str = "warning") -> Alert:
    started = datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(hours=n)
    subject = f"m{n}"
    return Alert(
        id=episode_id(alert_type, subject, started), type=alert_type, state=state, severity=severity,
        subject=subject, building={"g1": "b1", "g2": "b2"}.get(grid or ""), grid=grid,
        started_at=started, raised_at=started + timedelta(hours=12),
        cleared_at=started + timedelta(hours=14) if state == "cleared" else None,
        summary=f"no water used for 12 h at {subject}", evidence={"silent_h": 12}, edge_id="edge-01",
        revision=revision,
    )


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
def dispatch(start_dispatch: Callable[..., ServerHandle]) -> ServerHandle:
    return start_dispatch()


def post(handle: ServerHandle, alert: Alert | str, token: str | None = EDGE) -> httpx.Response:
    body = alert if isinstance(alert, str) else alert.to_json()
    return httpx.post(handle.alerts_url, content=body, headers=bearer(token), timeout=5)


def get(handle: ServerHandle, path: str = "", token: str | None = OPERATOR, **params: object) -> httpx.Response:
    return httpx.get(handle.alerts_url + path, params=params, headers=bearer(token), timeout=5)


def test_new_change_is_201_and_the_same_change_again_is_a_200_duplicate(dispatch: ServerHandle) -> None:
    alert = make_alert()
    first = post(dispatch, alert)
    assert first.status_code == 201
    assert first.json() == {"id": alert.id, "stored": True, "duplicate": False, "applied": True}

    again = post(dispatch, alert)
    assert again.status_code == 200
    assert again.json()["stored"] is False and again.json()["duplicate"] is True

    detail = get(dispatch, f"/{alert.id}").json()
    assert len(detail["history"]) == 1
    assert detail["dispatch"]["state"] == "dispatched" and detail["dispatch"]["changes"] == 1
    assert detail["dispatch"]["assignee"] == "w1" and [t["action"] for t in detail["transitions"]] == ["dispatch"]
    assert Alert.model_validate(detail["history"][0]["alert"]) == alert
    assert dispatch.app.state.counters == {"received": 2, "stored": 1, "duplicates": 1, "invalid": 0}


def test_an_update_and_a_clear_move_the_current_view(dispatch: ServerHandle) -> None:
    raised = make_alert(severity="warning")
    worse = raised.model_copy(update={"severity": "critical", "revision": 2})
    cleared = worse.model_copy(
        update={"state": "cleared", "revision": 3, "cleared_at": raised.raised_at + timedelta(hours=1)}
    )
    for change in (raised, worse, cleared):
        assert post(dispatch, change).status_code == 201
    detail = get(dispatch, f"/{raised.id}").json()
    assert (detail["state"], detail["severity"], detail["revision"]) == ("cleared", "critical", 3)
    assert [c["alert"]["revision"] for c in detail["history"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("first", "late", "expected_state"),
    [
        ({"state": "cleared", "revision": 3}, {"state": "active", "revision": 2}, "cleared"),  # lower revision
        ({"state": "cleared", "revision": None}, {"state": "active", "revision": None}, "cleared"),  # stale active
        ({"state": "active", "revision": 2}, {"state": "active", "revision": 1, "severity": "info"}, "active"),
    ],
)
def test_an_older_change_is_kept_in_history_but_does_not_roll_the_view_back(
    dispatch: ServerHandle, first: dict, late: dict, expected_state: str
) -> None:
    base = make_alert(severity="critical")
    newer = base.model_copy(update={**first, "cleared_at": base.raised_at if first["state"] == "cleared" else None})
    older = base.model_copy(update=late)
    assert post(dispatch, newer).status_code == 201
    response = post(dispatch, older)
    assert response.status_code == 201 and response.json()["applied"] is False
    detail = get(dispatch, f"/{base.id}").json()
    assert detail["state"] == expected_state and detail["severity"] == "critical"
    assert [c["applied"] for c in detail["history"]] == [True, False]
    assert detail["dispatch"]["changes"] == 2


@pytest.mark.parametrize(
    ("current_state", "current_revision", "update", "expected"),
    [
        ("active", 1, {"revision": 2}, True),
        ("active", 2, {"revision": 1}, False),
        ("cleared", 2, {"revision": 3, "state": "active"}, True),  # the edge's numbering wins
        ("cleared", None, {"revision": None, "state": "active"}, False),
        ("cleared", 2, {"revision": 2, "state": "active"}, False),
        ("active", None, {"revision": 1, "state": "cleared"}, True),
        ("active", 1, {"revision": 1, "severity": "critical"}, True),  # same revision, other content
    ],
)
def test_supersedes(current_state: str, current_revision: int | None, update: dict, expected: bool) -> None:
    assert supersedes(current_state, current_revision, make_alert().model_copy(update=update)) is expected


@pytest.mark.parametrize(
    ("method", "token", "status"),
    [
        ("post", None, 401),
        ("post", "not-a-token", 401),
        ("post", OPERATOR, 403),
        ("post", W1, 403),
        ("get", None, 401),
        ("get", "not-a-token", 401),
        ("get", EDGE, 403),
    ],
)
def test_tokens(dispatch: ServerHandle, method: str, token: str | None, status: int) -> None:
    response = post(dispatch, make_alert(), token) if method == "post" else get(dispatch, token=token)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert get(dispatch).json()["count"] == 0


def test_healthz_needs_no_token(dispatch: ServerHandle) -> None:
    response = httpx.get(dispatch.url + "/healthz", timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ("this is not json", "json"),
        ('{"id": "x"}', "type"),
        (make_alert().to_json().replace('"active"', '"burning"'), "state"),
        (make_alert().to_json().replace('"2026-03-01T08:00:00Z"', '"yesterday"'), "started_at"),
        (make_alert().to_json().replace('"m0"', '""'), "subject"),
    ],
)
def test_a_bad_payload_is_422_with_a_clear_message_and_nothing_is_stored(
    dispatch: ServerHandle, body: str, mentions: str
) -> None:
    response = post(dispatch, body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("invalid alert: ")
    assert mentions in response.json()["detail"].lower()
    assert get(dispatch).json()["count"] == 0


def test_state_survives_a_restart_of_the_server(start_dispatch: Callable[..., ServerHandle]) -> None:
    first = start_dispatch()
    alerts = [make_alert(n) for n in range(3)]
    for alert in alerts:
        assert post(first, alert).status_code == 201
    first.stop()

    second = start_dispatch()
    assert [a["id"] for a in get(second).json()["alerts"]] == [a.id for a in reversed(alerts)]
    assert post(second, alerts[0]).json()["duplicate"] is True


def test_filters_limit_and_newest_first(dispatch: ServerHandle) -> None:
    changes = [
        make_alert(0, grid="g1"),
        make_alert(1, grid="g2", alert_type="water.spike"),
        make_alert(2, grid=None),
        make_alert(3, grid="g1", state="cleared"),
    ]
    for change in changes:
        assert post(dispatch, change).status_code == 201

    def ids(**params: object) -> list[str]:
        response = get(dispatch, **params)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["alerts"]]

    assert ids() == [c.id for c in reversed(changes)]
    assert ids(grid="g1") == [changes[3].id, changes[0].id]
    assert ids(grid="unassigned") == [changes[2].id]
    assert ids(state="cleared") == [changes[3].id]
    assert ids(type="water.spike") == [changes[1].id]
    assert ids(grid="g1", state="active") == [changes[0].id]
    assert ids(limit=2) == [changes[3].id, changes[2].id]
    unassigned = get(dispatch, grid="unassigned").json()["alerts"][0]
    assert unassigned["grid"] is None and unassigned["dispatch"]["queue"] == "unassigned"
    assert get(dispatch, state="burning").status_code == 422
    assert get(dispatch, "/no-such-alert").status_code == 404


def test_a_worker_sees_only_the_grids_it_belongs_to(dispatch: ServerHandle) -> None:
    g1, g2, unassigned = make_alert(0, grid="g1"), make_alert(1, grid="g2"), make_alert(2, grid=None)
    for change in (g1, g2, unassigned):
        post(dispatch, change)

    assert [a["id"] for a in get(dispatch, token=W1).json()["alerts"]] == [g1.id]
    assert [a["id"] for a in get(dispatch, token=W3).json()["alerts"]] == [g2.id]  # as the leader of g2
    assert [a["id"] for a in get(dispatch, token=W1, grid="g1").json()["alerts"]] == [g1.id]
    assert get(dispatch, token=W1, grid="g2").status_code == 403
    assert get(dispatch, token=W1, grid="unassigned").status_code == 403
    assert get(dispatch, f"/{g1.id}", token=W1).status_code == 200
    assert get(dispatch, f"/{g2.id}", token=W1).status_code == 403
    assert get(dispatch, token=OPERATOR).json()["count"] == 3


def test_refuses_to_start_without_an_edge_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDWATCH_TOKEN", raising=False)
    config = DispatchConfig(state_dir=tmp_path / "d", auth=AuthConfig(edge_token_env="GRIDWATCH_TEST_NO_SUCH_TOKEN"))
    with pytest.raises(AuthConfigError, match="GRIDWATCH_TEST_NO_SUCH_TOKEN"):
        create_app(config, REGISTRY)
    assert not (tmp_path / "d").exists()


def test_allow_no_auth_accepts_alerts_without_a_token(
    start_dispatch: Callable[..., ServerHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDWATCH_TOKEN")
    monkeypatch.delenv("GRIDWATCH_OPERATOR_TOKEN")
    handle = start_dispatch(auth={"allow_no_auth": True})
    assert post(handle, make_alert(), token=None).status_code == 201
    assert get(handle, token=None).json()["count"] == 1
    assert get(handle, token=W1).json()["count"] == 1  # a worker is still limited to its grids
