"""The dispatch API fuzzed from its own OpenAPI schema (schemathesis) over real HTTP: whatever the generated
request, with the right token or none, dispatch answers it without a 5xx (a 5xx blocks the edge's outbox)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from dispatch.config import DispatchConfig
from dispatch.server import start_in_thread
from tests.dispatch.test_api import EDGE, OPERATOR, REGISTRY, make_alert, post

EXAMPLES = int(os.environ.get("GRIDWATCH_FUZZ_EXAMPLES", "25"))  # per operation; raise it for a long run


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    saved = {name: os.environ.get(name) for name in ("GRIDWATCH_TOKEN", "GRIDWATCH_OPERATOR_TOKEN")}
    os.environ.update(GRIDWATCH_TOKEN=EDGE, GRIDWATCH_OPERATOR_TOKEN=OPERATOR)
    state: Path = tmp_path_factory.mktemp("fuzz")
    handle = start_in_thread(DispatchConfig(listen="127.0.0.1:0", state_dir=state), REGISTRY)
    post(handle, make_alert())  # one alert, so that some generated ids and calls reach the store
    try:
        schema = schemathesis.openapi.from_url(handle.url + "/openapi.json")
        # The feed is a stream that does not end: fuzzed by its own tests, not here.
        yield schema.exclude(path="/api/v1/feed")
    finally:
        handle.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _fuzz(api_schema: object, headers_for: Callable[[schemathesis.Case], dict[str, str]]) -> list[str]:
    """Every operation of the schema, EXAMPLES generated requests each; returns the operations run."""
    ran = []
    for result in api_schema.get_all_operations():  # type: ignore[attr-defined]
        operation = result.ok()

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers_for(case), checks=[not_a_server_error], timeout=10)

        run()
        ran.append(f"{operation.method.upper()} {operation.path}")
    return ran


def test_no_request_with_the_right_token_makes_dispatch_fail(api_schema: object) -> None:
    def token(case: schemathesis.Case) -> dict[str, str]:
        edge = (case.method.upper(), case.path) == ("POST", "/api/v1/alerts")
        return {"Authorization": f"Bearer {EDGE if edge else OPERATOR}"}

    ran = _fuzz(api_schema, token)
    assert "POST /api/v1/alerts" in ran and "POST /api/v1/alerts/{alert_id}/accept" in ran


def test_no_request_without_a_token_makes_dispatch_fail(api_schema: object) -> None:
    assert _fuzz(api_schema, lambda case: {})


# -- alert changes that are well-formed JSON with hostile values: where the schema-driven fuzzer rarely goes ----

JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
HOSTILE_JSON = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=40)
HOSTILE_TS = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-13-01T00:00:00Z", ""]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
)


@st.composite
def hostile_alerts(draw: st.DrawFn) -> dict:
    doc = json.loads(make_alert(draw(st.integers(0, 50))).to_json())
    doc["revision"] = draw(st.none() | st.integers(min_value=-(2**70), max_value=2**70))
    doc["started_at"] = draw(HOSTILE_TS)
    doc["raised_at"] = draw(HOSTILE_TS | st.just(doc["raised_at"]))
    doc["evidence"] = draw(st.dictionaries(st.text(max_size=8), HOSTILE_JSON, max_size=4))
    doc["summary"] = draw(st.text(max_size=600))
    doc["subject"] = draw(st.text(min_size=0, max_size=130))
    return doc


def test_hostile_alert_changes_are_stored_or_422_never_5xx_and_every_reader_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR)
    handle = start_in_thread(DispatchConfig(listen="127.0.0.1:0", state_dir=tmp_path), REGISTRY)
    statuses: set[int] = set()
    try:
        with httpx.Client(base_url=handle.url, timeout=10,
                          headers={"Authorization": f"Bearer {EDGE}"}) as client:

            @given(doc=hostile_alerts())
            @settings(max_examples=EXAMPLES * 4, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(doc: dict) -> None:
                response = client.post("/api/v1/alerts", content=json.dumps(doc))
                statuses.add(response.status_code)
                assert response.status_code in (200, 201, 422), (response.status_code, response.text[:300])

            run()
        store = handle.app.state.store
        store.events_after(0, limit=100_000)  # every stored event reads back
        assert not store.quarantined_events()
        listed = httpx.get(handle.alerts_url, params={"limit": 5000}, timeout=10,
                           headers={"Authorization": f"Bearer {OPERATOR}"})
        assert listed.status_code == 200
    finally:
        handle.stop()
    assert 422 in statuses and 201 in statuses  # both sides were reached
