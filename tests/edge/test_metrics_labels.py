"""Label values of the edge's metrics stay bounded: registered cameras up to a cap, the largest reason
categories up to a cap, everything else summed under `_other` (nothing dropped from the totals)."""

from __future__ import annotations

import pytest

from edge.metrics import OTHER, BoundedLabels, capped


@pytest.mark.parametrize(
    ("registered", "cap", "counts", "expected"),
    [
        (["el-1", "el-2"], 10, {"el-1": 5, "el-2": 1}, {"el-1": 5, "el-2": 1}),
        # Past the cap: the first cameras by id keep their label, the others count as _other.
        (["el-3", "el-1", "el-2"], 2, {"el-1": 5, "el-2": 1, "el-3": 7}, {"el-1": 5, "el-2": 1, OTHER: 7}),
        # A camera nobody registered never gets a label of its own.
        (["el-1"], 10, {"el-1": 2, "intruder": 4, "el-x": 1}, {"el-1": 2, OTHER: 5}),
        ([], 10, {"el-1": 3}, {OTHER: 3}),
        (["el-1"], 0, {"el-1": 3}, {OTHER: 3}),
    ],
)
def test_camera_labels(registered: list[str], cap: int, counts: dict[str, int], expected: dict[str, int]) -> None:
    folded = BoundedLabels(registered, cap).fold(counts)
    assert folded == expected
    assert sum(folded.values()) == sum(counts.values())


def test_open_ended_reasons_keep_the_largest() -> None:
    reasons = {f"field_{i}": i for i in range(1, 41)}  # 40 categories, counts 1..40
    kept = capped(reasons, 32)
    assert len(kept) == 33 and kept[OTHER] == sum(range(1, 9))  # the 8 smallest summed
    assert all(kept[f"field_{i}"] == i for i in range(9, 41))
    assert capped({"not JSON": 2, "ts": 1}) == {"not JSON": 2, "ts": 1}
