"""The elevator pipeline across restarts and stalls: an e-bike alert left open by a worker killed with kill -9
is cleared by the next run at the real dispatch (and its door released); a camera_offline one left by a stopped
worker too; a door the watchdog released is held again under the same alert when judging resumes with the bike
still there, but never after a max_hold_s release. Real Mosquitto, real dispatch, the real model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.broker import Mosquitto, free_port
from edge.config import load_edge_config, load_registry
from edge.elevator.linkage import DoorLinkage
from edge.elevator.open_episodes import OpenEpisodes
from edge.worker import EdgeWorker
from ingest.topics import Topics
from ingest.wire.alert import Alert
from ingest.wire.elevator import ElevatorCommand
from tests.e2e.harness import TOKENS, Dispatch, EdgeProcess, wait_for, write_edge_config
from tests.e2e.test_elevator_e2e import ELEVATOR, REGISTRY, Camera, Commands, alert_detail, ebike_jpeg, start_edge
from tests.e2e.test_elevator_e2e import elevator_changes as ebike_changes
from tests.edge.test_elevator_linkage import GatedDetector, Published

EPISODES = "elevator_episodes.json"


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


def sent(commands: Commands, action: str | None = None) -> list[dict]:
    """The commands published for e-1, in order (optionally one action)."""
    with commands._lock:
        return [c for _, eid, c in commands.items if eid == "e-1" and action in (None, c["action"])]


def restart_clears(dispatch: Dispatch, alert_type: str = "elevator.ebike") -> list[dict]:
    return [c for c in dispatch.changes() if c["type"] == alert_type and c["state"] == "cleared"
            and c["evidence"].get("cleared_by") == "edge_restart"]


def test_an_ebike_alert_left_open_by_a_killed_worker_is_cleared_by_the_next_run(
    tmp_path: Path, mosquitto: Mosquitto, shared_dir: Path
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    commands = Commands(mosquitto.url)
    config = write_edge_config(tmp_path, mosquitto.url, dispatch.url, registry_path,
                               elevator={**ELEVATOR, "watchdog_s": 600.0})
    process = EdgeProcess(config, tmp_path / "edge.log").start()
    camera = Camera(mosquitto.url)
    worker: EdgeWorker | None = None
    try:
        camera.frame = ebike_jpeg(shared_dir)
        wait_for(lambda: any(c["state"] == "active" for c in ebike_changes(dispatch)), 90, "the e-bike alert")
        wait_for(lambda: "hold_door" in commands.actions(), 10, "the door hold")
        first = next(c for c in ebike_changes(dispatch) if c["state"] == "active")
        assert [c["id"] for c in json.loads((tmp_path / "edge-state" / EPISODES).read_text())] == [first["id"]]
        process.kill9()  # holding the door, the alert open: nothing can be released or cleared by this run
        assert "release_door" not in commands.actions()

        # The next run (the bike is still there): the old episode is cleared and its door released first thing;
        # the car is judged afresh, so the bike is a new episode with a new id.
        worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path, watchdog_s=600.0)
        wait_for(lambda: restart_clears(dispatch), 30, "the restart's cleared change at dispatch")
        wait_for(lambda: "release_door" in commands.actions(), 15, "the release of the door the killed run held")
        cleared = restart_clears(dispatch)
        assert [c["id"] for c in cleared] == [first["id"]]
        last_before = max(c["revision"] for c in ebike_changes(dispatch)
                          if c["id"] == first["id"] and c["state"] == "active")
        assert cleared[0]["revision"] == last_before + 1 and cleared[0]["cleared_at"] is not None
        assert "重启" in cleared[0]["summary"] and "restarted" in cleared[0]["summary"]
        assert commands.first("release_door")[1]["alert_id"] == first["id"]
        detail = alert_detail(dispatch, first["id"])
        assert detail["state"] == "cleared" and detail["dispatch"]["has_snapshot"], "the deciding frame stays"
        wait_for(lambda: len({c["id"] for c in ebike_changes(dispatch) if c["state"] == "active"}) == 2, 60,
                 "the bike still there raised afresh")
        new_id = next(c["id"] for c in ebike_changes(dispatch) if c["id"] != first["id"])
        assert [c["alert_id"] for c in sent(commands, "hold_door")] == [first["id"], new_id]
        assert [c["id"] for c in json.loads((tmp_path / "edge-state" / EPISODES).read_text())] == [new_id]
        assert worker.snapshot()["elevator"]["restart_clears"] == 1
    finally:
        camera.stop()
        process.stop()
        if worker:
            worker.stop()
        commands.stop()
        dispatch.stop()


def test_a_camera_offline_alert_left_open_by_a_stopped_worker_is_cleared_at_start(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path, camera_silent_s=1.0)
    try:
        wait_for(lambda: any(c["type"] == "elevator.camera_offline" for c in dispatch.changes()), 30,
                 "the camera offline")
        offline = next(c for c in dispatch.changes() if c["type"] == "elevator.camera_offline")
        worker.stop()
        worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path)  # camera_silent_s: an hour
        wait_for(lambda: restart_clears(dispatch, "elevator.camera_offline"), 30, "the restart's cleared change")
        assert [c["id"] for c in restart_clears(dispatch, "elevator.camera_offline")] == [offline["id"]]
        assert alert_detail(dispatch, offline["id"])["state"] == "cleared"
    finally:
        worker.stop()
        dispatch.stop()


def gated_worker(tmp_path: Path, mosquitto: Mosquitto, dispatch: Dispatch, registry_path: Path,
                 **elevator) -> tuple[EdgeWorker, GatedDetector]:
    detector = GatedDetector()
    config = load_edge_config(write_edge_config(tmp_path, mosquitto.url, dispatch.url, registry_path,
                                                health_listen=None, elevator={**ELEVATOR, **elevator}))
    worker = EdgeWorker(config, load_registry(registry_path), detector=detector)
    worker.start()
    assert worker.mqtt.wait_subscribed(10)
    return worker, detector


def test_after_a_watchdog_release_the_door_is_held_again_when_judging_resumes_with_the_bike(
    tmp_path: Path, mosquitto: Mosquitto, shared_dir: Path
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    commands = Commands(mosquitto.url)
    worker, detector = gated_worker(tmp_path, mosquitto, dispatch, registry_path, watchdog_s=1.5)
    camera = Camera(mosquitto.url)
    try:
        camera.frame = ebike_jpeg(shared_dir)
        wait_for(lambda: "announce" in commands.actions(), 60, "the door hold and announcement")
        detector.gate.clear()  # the detector hangs; frames keep coming
        wait_for(lambda: "release_door" in commands.actions(), 30, "the watchdog's release")
        detector.gate.set()  # judging resumes; the bike is still there
        wait_for(lambda: commands.actions().count("hold_door") == 2, 60, "the door held again")
        wait_for(lambda: commands.actions().count("announce") >= 2, 10, "the announcement again")
        assert commands.actions()[:5] == ["hold_door", "announce", "release_door", "hold_door", "announce"]
        ids = {c["alert_id"] for c in sent(commands)}
        assert len(ids) == 1, "the same alert holds the door again"
        elevator = worker.snapshot()["elevator"]
        assert elevator["reholds"] == 1 and elevator["raises"] == 1 and elevator["clears"] == 0
        assert {h["alert_id"] for h in elevator["linkage"]["held"].values()} == ids
        assert [c["state"] for c in ebike_changes(dispatch)].count("active") >= 1
        assert {c["id"] for c in ebike_changes(dispatch)} == ids, "no second episode"
    finally:
        detector.gate.set()
        camera.stop()
        worker.stop()
        commands.stop()
        dispatch.stop()


def test_after_a_max_hold_release_the_door_is_not_held_again(
    tmp_path: Path, mosquitto: Mosquitto, shared_dir: Path
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    commands = Commands(mosquitto.url)
    worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path, max_hold_s=2.0, watchdog_s=600.0)
    camera = Camera(mosquitto.url)
    try:
        camera.frame = ebike_jpeg(shared_dir)
        wait_for(lambda: "hold_door" in commands.actions(), 60, "the door hold")
        wait_for(lambda: "release_door" in commands.actions(), 30, "the max_hold_s release")
        judged = worker.snapshot()["elevator"]["judged"]
        wait_for(lambda: worker.snapshot()["elevator"]["judged"] >= judged + 15, 60, "more frames of the bike")
        elevator = worker.snapshot()["elevator"]
        # The bike is still confirmed (the episode did not clear), yet the door stays free.
        assert elevator["raises"] == 1 and elevator["clears"] == 0 and elevator["reholds"] == 0
        assert commands.actions().count("hold_door") == 1
        assert elevator["linkage"]["max_hold_releases"] == 1 and elevator["linkage"]["held"] == {}
    finally:
        camera.stop()
        worker.stop()
        commands.stop()
        dispatch.stop()


# ---- the pieces on their own ---------------------------------------------------------------------------
def hold(action: str, alert_id: str = "elevator.ebike:aa") -> ElevatorCommand:
    return ElevatorCommand(action=action, alert_id=alert_id, ts=datetime.now(UTC))


@pytest.mark.parametrize(
    ("released_by", "then", "alert_id", "due"),
    [
        ("watchdog", None, "elevator.ebike:aa", True),
        ("watchdog", None, "elevator.ebike:bb", False),  # another episode: the rule's own raise holds it
        ("watchdog", "release_door", "elevator.ebike:aa", False),  # the episode cleared
        ("max_hold", None, "elevator.ebike:aa", False),  # final
        ("stop", None, "elevator.ebike:aa", False),
    ],
)
def test_rehold_due_after_which_release(tmp_path: Path, released_by: str, then: str | None, alert_id: str,
                                        due: bool) -> None:
    linkage = DoorLinkage(Published(), Topics(), tmp_path / "doors.json", watchdog_s=5, max_hold_s=60)
    linkage.send("e-1", hold("hold_door"))
    since = linkage.held()["e-1"].since
    if released_by == "watchdog":
        linkage.check(since + 6, {}.get)
    elif released_by == "max_hold":
        linkage.check(since + 61, {"e-1": since + 60.5}.get)
    else:
        linkage.release_all("stopping")
    assert linkage.held() == {}
    if then:
        linkage.send("e-1", hold(then))
    assert linkage.rehold_due("e-1", alert_id, since + 7) is due
    if due:  # held again: max_hold_s counts from the first hold, and past it no re-hold is due
        linkage.send("e-1", hold("hold_door"))
        assert linkage.held()["e-1"].since == since and not linkage.rehold_due("e-1", alert_id, since + 7)
        linkage.check(since + 14, {}.get)
        assert linkage.rehold_due("e-1", alert_id, since + 59) and not linkage.rehold_due("e-1", alert_id, since + 61)


def alert(state: str, revision: int, **extra) -> Alert:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Alert(id="elevator.ebike:aa", type="elevator.ebike", state=state, severity="critical", subject="e-1",
                 started_at=at, raised_at=at, summary="s", evidence={"median_score": 0.9, **extra},
                 edge_id="edge-01", revision=revision, snapshot_jpeg_b64="AAAA")


def test_open_episodes_keep_the_last_change_and_give_the_restart_clears(tmp_path: Path) -> None:
    path = tmp_path / EPISODES
    store = OpenEpisodes(path)
    store.record([alert("active", 1)])
    store.record([alert("active", 2, clip="c.mp4")])
    now = datetime(2026, 1, 2, tzinfo=UTC)
    [cleared] = OpenEpisodes(path).left_open(now)  # a killed run: the next one reads the file
    assert cleared.state == "cleared" and cleared.revision == 3 and cleared.cleared_at == now
    reason = cleared.evidence.pop("cleared_reason")  # the words for it: "the edge restarted: this alert is closed"
    assert reason["key"] == "elevator.ebike.cleared.edge_restart" and reason["params"]["subject"] == "e-1"
    assert cleared.evidence == {"median_score": 0.9, "clip": "c.mp4", "cleared_by": "edge_restart"}
    assert cleared.snapshot_jpeg_b64 == "AAAA" and "e-1" in cleared.summary
    store.record([alert("cleared", 3)])
    assert json.loads(path.read_text()) == [] and OpenEpisodes(path).left_open(now) == []
    path.write_text("{torn")
    assert OpenEpisodes(path).left_open(now) == [], "an unreadable file is logged, not fatal"
