"""Which source scenes train, which calibrate (val) and which score (test): one split, by scene, for every source.

A scene is one real photograph and everything made from it: its augmented copies, its crops, its painted-out
background, every cut-out of its objects and every composite they are pasted into. Whole scenes go to one side,
so no side sees pixels of a scene from another. The split file is the record (`models/weights/ebike.split.json`):

- `train_originals`, `val_originals`, `test_originals`: the elevator screenshots (ebike-elevator) by side;
- `extra`: the other sources (street e-bike photos, wheelchair photos) with the scenes of each side.

Old split files (format 1) had no test side: their `val_originals` were the held-out set that was scored.
`held_out_originals()` reads both.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Side = Literal["train", "val", "test"]
SIDES: tuple[Side, ...] = ("train", "val", "test")
FORMAT = 2


@dataclass(frozen=True)
class SceneSplit:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    extra: dict[str, dict[Side, tuple[str, ...]]] = field(default_factory=dict)  # source -> side -> scenes
    facts: dict[str, object] = field(default_factory=dict)

    def side_of(self, scene: str, source: str | None = None) -> Side | None:
        groups = self.extra.get(source, {}) if source else {"train": self.train, "val": self.val, "test": self.test}
        return next((side for side in SIDES if scene in groups.get(side, ())), None)

    def scenes(self, side: Side, source: str | None = None) -> tuple[str, ...]:
        if source is None:
            return {"train": self.train, "val": self.val, "test": self.test}[side]
        return self.extra.get(source, {}).get(side, ())

    def to_json(self) -> str:
        body = {"format": FORMAT, **self.facts, "train_originals": list(self.train),
                "val_originals": list(self.val), "test_originals": list(self.test),
                "extra": {src: {side: list(v) for side, v in sides.items()} for src, sides in self.extra.items()}}
        return json.dumps(body, indent=1, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def read(cls, path: Path) -> SceneSplit:
        data = json.loads(Path(path).read_text())
        if "test_originals" not in data:  # format 1: what was held out is the test side; nothing calibrated
            return cls(tuple(data["train_originals"]), (), tuple(data["val_originals"]))
        extra = {src: {side: tuple(v) for side, v in sides.items()} for src, sides in data.get("extra", {}).items()}
        facts = {k: v for k, v in data.items()
                 if k not in ("format", "train_originals", "val_originals", "test_originals", "extra")}
        return cls(tuple(data["train_originals"]), tuple(data["val_originals"]), tuple(data["test_originals"]),
                   extra, facts)


def held_out_originals(path: Path) -> list[str]:
    """The originals to score a model on: `test_originals` (format 2), else the old `val_originals` (the
    simulator's reading, so rides and box scores are on the same originals)."""
    from simulators.elevator.sources import read_split

    originals, _ = read_split(Path(path))
    return originals or []


def _shares(scenes: Sequence[str], val_share: float, test_share: float, rng: random.Random
            ) -> dict[Side, tuple[str, ...]]:
    keys = sorted(scenes)
    rng.shuffle(keys)
    n_test = round(len(keys) * test_share)
    n_val = round(len(keys) * val_share)
    return {"test": tuple(sorted(keys[:n_test])), "val": tuple(sorted(keys[n_test:n_test + n_val])),
            "train": tuple(sorted(keys[n_test + n_val:]))}


def make_split(originals: Iterable[str], *, test: Iterable[str], val_count: int, seed: int = 0,
               extra: dict[str, tuple[Sequence[str], float, float]] | None = None) -> SceneSplit:
    """`test`: the originals scored (fixed, so a new model is scored where the shipped one was); `val_count` more
    are drawn (seeded) to calibrate; the rest train. `extra`: source -> (its scenes, val share, test share)."""
    originals = sorted(set(originals))
    test = tuple(sorted(set(test)))
    unknown = sorted(set(test) - set(originals))
    if unknown:
        raise ValueError(f"test originals not in the set: {unknown}")
    rest = [o for o in originals if o not in test]
    if not 0 <= val_count < len(rest):
        raise ValueError(f"{len(rest)} originals outside the test side cannot give {val_count} to val")
    rng = random.Random(seed)
    shuffled = rest[:]
    rng.shuffle(shuffled)
    val = tuple(sorted(shuffled[:val_count]))
    train = tuple(sorted(shuffled[val_count:]))
    sides = {src: _shares(scenes, v, t, random.Random(f"{seed}:{src}"))
             for src, (scenes, v, t) in (extra or {}).items()}
    return SceneSplit(train, val, test, sides, {"seed": seed})
