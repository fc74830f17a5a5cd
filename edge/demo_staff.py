"""The demo's people: two grid workers and a leader per grid, one community station, and
an API token for each (the registry keeps only the tokens' sha256); and the demo's elevators."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭"


def staff(registry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The registry with staffed grids and a station; returns it and worker id → token."""
    workers: list[dict[str, Any]] = []
    grids: list[dict[str, Any]] = []
    for n, grid in enumerate(registry["grids"]):
        suffix = grid["id"].removeprefix("g-")
        members = [f"w-{suffix}a", f"w-{suffix}b"]
        leader = f"lead-{suffix}"
        roles = ("网格员", "网格员", "组长")
        names = [f"{SURNAMES[(3 * n + i) % len(SURNAMES)]}{role}" for i, role in enumerate(roles)]
        workers += [{"id": w, "name": name} for w, name in zip([*members, leader], names, strict=True)]
        grids.append({**grid, "name": f"第{n + 1}网格", "workers": members, "leader": leader, "station": "s-01"})
    workers.append({"id": "st-01", "name": "社区工作站值班员"})
    stations = [{"id": "s-01", "name": "东湖社区工作站", "workers": ["st-01"]}]
    tokens = {w["id"]: secrets.token_urlsafe(16) for w in workers}
    for worker in workers:
        worker["token_sha256"] = hashlib.sha256(tokens[worker["id"]].encode()).hexdigest()
    return {**registry, "grids": grids, "workers": workers, "stations": stations}, tokens


def elevator_ids(n: int) -> list[str]:
    return [f"el-{i:02d}" for i in range(1, n + 1)]


def add_elevators(registry: dict[str, Any], n: int) -> dict[str, Any]:
    """The registry with `n` elevators, one in each of the first buildings (so their alerts reach a grid)."""
    buildings = [b["id"] for b in registry["buildings"]]
    if n <= 0 or not buildings:
        return registry
    elevators = [{"id": eid, "building": buildings[i % len(buildings)]} for i, eid in enumerate(elevator_ids(n))]
    return {**registry, "elevators": [*registry.get("elevators", []), *elevators]}
