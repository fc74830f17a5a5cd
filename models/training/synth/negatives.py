"""Our own set of scenes without an e-bike, made from one side (the test side by default): what must never hold
a door.

`build_negatives(split, out)` writes one folder per kind, each image one scene for `gridwatch eval elevator
--negatives DIR` (which plays it as a ride with the door open):
- wheelchair_photo: the test side's wheelchair photos as they are;
- wheelchair: a test wheelchair in a test car or a drawn one, half the time with a person by it;
- bicycle, suitcase, delivery_box, stroller, trolley: the drawn props, one kind a scene;
- crowd: two to five of the test originals' people in a car;
- empty_car: a drawn empty car with its notices;
- painted: a test original with its e-bikes painted out (people kept);
- crop: a part of a test original that touches no e-bike.
No pixel of a train or val scene is used, and the seed differs from the recipe's, so these are scenes no
model trained here has seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from models.training.scenes import SIDES, SceneSplit, Side
from models.training.synth.backgrounds import drawn_car
from models.training.synth.compose import PROP_PLACEMENT, camera, fit_frame, jpeg
from models.training.synth.props import PROPS
from models.training.synth.recipe import SCENES, Frame, Pantry, add_object, background_frame, pantry_for, with_person
from models.training.synth.sources import Material

NEGATIVE_SEED = 7919
KINDS = ("wheelchair_photo", "wheelchair", *PROPS, "crowd", "empty_car", "painted", "crop")


def _prop_frame(pantry: Pantry, name: str, rng: np.random.Generator) -> Frame:
    frame = background_frame(pantry, rng)
    add_object(frame, PROPS[name](rng), None, f"drawn:{name}", rng, PROP_PLACEMENT)
    if rng.random() < 0.4:
        with_person(frame, pantry, rng, None)
    return frame


def build_negatives(split: SceneSplit, out: Path, *, per_kind: int = 12, seed: int = 0, side: Side = "test",
                    material: Material | None = None) -> dict[str, int]:
    """Write the negative scenes of one side (test: for scoring; val: for choosing thresholds) by kind under
    `out`; returns how many of each."""
    material = material or Material.load()
    rng = np.random.default_rng([seed, NEGATIVE_SEED] + ([] if side == "test" else [SIDES.index(side)]))
    pantry = pantry_for(material, split, side, rng, crops=3)
    counts: dict[str, int] = {}
    rows = []

    def write(kind: str, index: int, image: np.ndarray, scenes: set[str]) -> None:
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{kind}_{index:03d}.jpg"
        (folder / name).write_bytes(jpeg(camera(image, rng), rng, quality=(60, 95)))
        counts[kind] = counts.get(kind, 0) + 1
        rows.append({"image": f"{kind}/{name}", "kind": kind, "scenes": sorted(scenes)})

    for i, (scene, path) in enumerate(pantry.wheelchair_photos[:per_kind]):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            write("wheelchair_photo", i, image, {scene})
    for i in range(per_kind):
        if (frame := SCENES["pasted_wheelchairs"](pantry, rng)) is not None:
            write("wheelchair", i, frame.image, frame.scenes)
        for name in sorted(PROPS):
            frame = _prop_frame(pantry, name, rng)
            write(name, i, frame.image, frame.scenes)
        if (frame := SCENES["crowds"](pantry, rng)) is not None:
            write("crowd", i, frame.image, frame.scenes)
        write("empty_car", i, drawn_car((360, 640), rng).image, {"drawn"})
    painted = [bg for bg in pantry.backgrounds if bg.kind == "painted"]
    crops = [bg for bg in pantry.backgrounds if bg.kind == "crop"]
    for kind, pool in (("painted", painted), ("crop", crops)):
        for i, bg in enumerate(pool[:per_kind]):
            image, _ = fit_frame(bg.image, [], (360, 640))
            write(kind, i, image, {bg.scene})
    with (out / "scenes.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return counts
