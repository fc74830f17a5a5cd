"""A training set as code: which ingredients, how many of each, from which scenes, from one seed.

`build(recipe, split, out)` writes an ultralytics folder (images/ and labels/ for train and val, data.yaml) and a
manifest (one JSON line per image: its ingredient and the scenes its pixels came from). The train side is made
only of train scenes and the val side only of val scenes (models/training/scenes.py); the test scenes are
never touched here. The same recipe, split and seed give the same bytes.

Ingredients (classes: 0 ebike, 1 person; everything else is background):
- real: the side's screenshots with their augmented copies, as labelled;
- street: the street e-bike photos (train only: they are not elevator scenes);
- crops: parts of the screenshots touching no e-bike;
- pasted_ebikes: e-bike cut-outs pasted into painted-out, cropped and drawn cars, half with a rider beside or
  on them, some beside a wheelchair or a drawn prop;
- wheelchair_photos: the wheelchair photos as they are;
- pasted_wheelchairs: wheelchairs cut from their white backgrounds, pasted into cars, some with a person;
- props: drawn bicycles, suitcases, delivery boxes, strollers and trolleys pasted into cars;
- crowds: two to five people pasted into a car;
- empty_cars: drawn empty cars with their notices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from models.training.scenes import SceneSplit, Side
from models.training.synth.backgrounds import Background, cropped, drawn_car, painted
from models.training.synth.compose import (
    EBIKE_PLACEMENT,
    PERSON_PLACEMENT,
    PROP_PLACEMENT,
    Placement,
    camera,
    fit_frame,
    jpeg,
    paste,
    yolo_rows,
)
from models.training.synth.cutouts import Box, Cutout, cut_box, cut_product_photo, overlap_share
from models.training.synth.props import PROPS
from models.training.synth.sources import EBIKE, PERSON, Material

WHEELCHAIR_SOURCE = "wheelchairs"  # the split file's name for the wheelchair photos
FRAME_SIZES = ((360, 640), (480, 640), (540, 720), (640, 480))  # h, w: 16:9, 4:3 and a portrait camera
NAMES = ("ebike", "person")
WHEELCHAIR_PLACEMENT = Placement((0.3, 0.75))


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "full"
    seed: int = 0
    real: bool = Field(True, description="the side's screenshots and their augmented copies")
    street: bool = Field(True, description="the street e-bike photos, train side only")
    crops: int = Field(4, ge=0, description="crops touching no e-bike, per screenshot")
    pasted_ebikes: int = Field(500, ge=0)
    wheelchair_photos: int = Field(120, ge=0)
    pasted_wheelchairs: int = Field(200, ge=0)
    props: int = Field(150, ge=0)
    crowds: int = Field(80, ge=0)
    empty_cars: int = Field(60, ge=0)
    val_scale: float = Field(0.3, ge=0, le=1, description="counts on the val side, as a share of train's")


_NO_SYNTH = {"pasted_ebikes": 0, "wheelchair_photos": 0, "pasted_wheelchairs": 0, "props": 0, "crowds": 0,
             "empty_cars": 0}
# The ablation: each preset adds one group of ingredients to the one before.
PRESETS: dict[str, Recipe] = {
    "real": Recipe(name="real", **_NO_SYNTH),
    "paste": Recipe(name="paste", **{**_NO_SYNTH, "pasted_ebikes": 500}),
    "wheelchairs": Recipe(name="wheelchairs", **{**_NO_SYNTH, "pasted_ebikes": 500, "wheelchair_photos": 120,
                                                 "pasted_wheelchairs": 200}),
    "full": Recipe(name="full"),
}


@dataclass
class Pantry:
    """One side's material: cut-outs and backgrounds made from that side's scenes only."""

    ebikes: list[Cutout] = field(default_factory=list)
    people: list[Cutout] = field(default_factory=list)
    wheelchairs: list[Cutout] = field(default_factory=list)
    wheelchair_photos: list[tuple[str, Path]] = field(default_factory=list)
    backgrounds: list[Background] = field(default_factory=list)


def pantry_for(material: Material, split: SceneSplit, side: Side, rng: np.random.Generator, crops: int) -> Pantry:
    pantry = Pantry()
    photos = [material.elevator[s] for s in split.scenes(side) if s in material.elevator]
    if side == "train":
        photos += list(material.street.values())
    for photo in photos:
        image = photo.load()
        for box in photo.ebikes:
            if (cut := cut_box(image, box, "ebike", photo.scene)) is not None:
                pantry.ebikes.append(cut)
        for box in photo.people:  # a person standing in front of a bike would carry bike pixels into negatives
            if all(overlap_share(box, bike) < 0.1 for bike in photo.ebikes):
                if (cut := cut_box(image, box, "person", photo.scene)) is not None:
                    pantry.people.append(cut)
        if photo.scene in material.elevator:
            pantry.backgrounds.append(painted(image, photo.ebikes, photo.people, photo.scene))
            for _ in range(crops):
                if (bg := cropped(image, photo.ebikes, photo.people, photo.scene, rng)) is not None:
                    pantry.backgrounds.append(bg)
    for scene in split.scenes(side, WHEELCHAIR_SOURCE):
        path = material.wheelchairs.get(scene)
        if path is None:
            continue
        pantry.wheelchair_photos.append((scene, path))
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None and (cut := cut_product_photo(image, "wheelchair", scene)) is not None:
            pantry.wheelchairs.append(cut)
    return pantry


@dataclass
class Frame:
    image: np.ndarray
    rows: list[tuple[int, Box]]
    scenes: set[str]


def background_frame(pantry: Pantry, rng: np.random.Generator) -> Frame:
    hw = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    if not pantry.backgrounds or rng.random() < 0.3:
        bg = drawn_car(hw, rng)
    else:
        bg = pantry.backgrounds[int(rng.integers(len(pantry.backgrounds)))]
    image, people = fit_frame(bg.image, list(bg.people), hw)
    return Frame(image, [(PERSON, b) for b in people], {bg.scene})


def add_object(frame: Frame, rgba: np.ndarray, cls: int | None, scene: str, rng: np.random.Generator,
         placement: Placement, anchor: tuple[float, float, float] | None = None) -> Box | None:
    box = paste(frame.image, rgba, rng, placement, anchor=anchor)
    if box is None:
        return None
    # A label hidden behind what was pasted on top of it is no longer a thing to find.
    frame.rows = [(c, b) for c, b in frame.rows if overlap_share(b, box) < 0.8]
    if cls is not None:
        frame.rows.append((cls, box))
    frame.scenes.add(scene)
    return box


def _pick(items: list, rng: np.random.Generator):
    return items[int(rng.integers(len(items)))]


def _distractor(frame: Frame, pantry: Pantry, rng: np.random.Generator) -> None:
    """A wheelchair or a drawn prop beside the scene's other things."""
    if pantry.wheelchairs and rng.random() < 0.5:
        cut = _pick(pantry.wheelchairs, rng)
        add_object(frame, cut.rgba, None, cut.scene, rng, WHEELCHAIR_PLACEMENT)
    else:
        name = _pick(sorted(PROPS), rng)
        add_object(frame, PROPS[name](rng), None, f"drawn:{name}", rng, PROP_PLACEMENT)


def with_person(frame: Frame, pantry: Pantry, rng: np.random.Generator, beside: Box | None) -> None:
    if not pantry.people:
        return
    cut = _pick(pantry.people, rng)
    anchor = None
    if beside is not None:  # the rider: by the bike, taller than it, standing on the same floor
        x1, _, x2, y2 = beside
        bike_h = beside[3] - beside[1]
        anchor = (rng.uniform(x1, x2), y2 + rng.uniform(-0.05, 0.08) * bike_h, bike_h * rng.uniform(1.1, 1.7))
    add_object(frame, cut.rgba, PERSON, cut.scene, rng, PERSON_PLACEMENT, anchor)


def _ebike_scene(pantry: Pantry, rng: np.random.Generator) -> Frame | None:
    if not pantry.ebikes:
        return None
    frame = background_frame(pantry, rng)
    if rng.random() < 0.2:
        _distractor(frame, pantry, rng)
    boxes = []
    for _ in range(2 if rng.random() < 0.15 else 1):
        cut = _pick(pantry.ebikes, rng)
        if (box := add_object(frame, cut.rgba, EBIKE, cut.scene, rng, EBIKE_PLACEMENT)) is not None:
            boxes.append(box)
    if not boxes:
        return None
    if rng.random() < 0.5:
        with_person(frame, pantry, rng, boxes[0])
    return frame


def _wheelchair_scene(pantry: Pantry, rng: np.random.Generator) -> Frame | None:
    if not pantry.wheelchairs:
        return None
    frame = background_frame(pantry, rng)
    cut = _pick(pantry.wheelchairs, rng)
    box = add_object(frame, cut.rgba, None, cut.scene, rng, WHEELCHAIR_PLACEMENT)
    if box is not None and rng.random() < 0.5:
        with_person(frame, pantry, rng, box)  # the person pushing it or sitting by it
    return frame


def _prop_scene(pantry: Pantry, rng: np.random.Generator) -> Frame | None:
    frame = background_frame(pantry, rng)
    for _ in range(int(rng.integers(1, 3))):
        name = _pick(sorted(PROPS), rng)
        add_object(frame, PROPS[name](rng), None, f"drawn:{name}", rng, PROP_PLACEMENT)
    if rng.random() < 0.4:
        with_person(frame, pantry, rng, None)
    return frame


def _crowd_scene(pantry: Pantry, rng: np.random.Generator) -> Frame | None:
    if not pantry.people:
        return None
    frame = background_frame(pantry, rng)
    for _ in range(int(rng.integers(2, 6))):
        with_person(frame, pantry, rng, None)
    return frame


def _empty_scene(pantry: Pantry, rng: np.random.Generator) -> Frame | None:
    hw = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    return Frame(drawn_car(hw, rng).image, [], {"drawn"})


def _crop_scenes(pantry: Pantry) -> Iterator[Background]:
    return (bg for bg in pantry.backgrounds if bg.kind == "crop")


SCENES: dict[str, Callable[[Pantry, np.random.Generator], Frame | None]] = {
    "pasted_ebikes": _ebike_scene, "pasted_wheelchairs": _wheelchair_scene, "props": _prop_scene,
    "crowds": _crowd_scene, "empty_cars": _empty_scene,
}


def _ebikes(labels: str) -> int:
    return sum(1 for line in labels.splitlines() if line.split()[:1] == [str(EBIKE)])


class _Writer:
    def __init__(self, out: Path, side: Side) -> None:
        self.side = side
        self.images, self.labels = out / "images" / side, out / "labels" / side
        self.images.mkdir(parents=True, exist_ok=True)
        self.labels.mkdir(parents=True, exist_ok=True)
        self.manifest: list[dict] = []

    def write(self, name: str, data: bytes, labels: str, ingredient: str, scenes: set[str]) -> None:
        (self.images / f"{name}.jpg").write_bytes(data)
        (self.labels / f"{name}.txt").write_text(labels)
        self.manifest.append({"image": f"images/{self.side}/{name}.jpg", "side": self.side,
                              "ingredient": ingredient, "scenes": sorted(scenes),
                              "ebikes": _ebikes(labels)})

    def link(self, image: Path, label: Path | None, ingredient: str, scene: str) -> None:
        target = self.images / image.name
        if not target.exists():
            target.symlink_to(image.resolve())
        text = label.read_text() if label and label.is_file() else ""
        (self.labels / f"{image.stem}.txt").write_text(text if not text or text.endswith("\n") else text + "\n")
        self.manifest.append({"image": f"images/{self.side}/{image.name}", "side": self.side,
                              "ingredient": ingredient, "scenes": [scene],
                              "ebikes": _ebikes(text)})


def _side(recipe: Recipe, material: Material, split: SceneSplit, side: Side, out: Path) -> list[dict]:
    scale = 1.0 if side == "train" else recipe.val_scale
    rng = np.random.default_rng([recipe.seed, SIDE_SEEDS[side]])
    pantry = pantry_for(material, split, side, rng, recipe.crops)
    writer = _Writer(out, side)
    if recipe.real:
        for scene in split.scenes(side):
            for item in material.elevator_copies.get(scene, []):
                writer.link(item.image, item.label, "real", scene)
    if recipe.street and side == "train":
        for photo in material.street.values():
            writer.link(photo.path, photo.path.parents[2] / "labels" / photo.path.parent.name
                        / f"{photo.path.stem}.txt", "street", photo.scene)
    for i, bg in enumerate(_crop_scenes(pantry)):
        image, people = fit_frame(bg.image, list(bg.people), bg.image.shape[:2])
        writer.write(f"crop_{side}_{i:05d}", jpeg(camera(image, rng), rng),
                     yolo_rows([(PERSON, b) for b in people], image.shape[:2]), "crops", {bg.scene})
    photos = pantry.wheelchair_photos
    for i in range(round(recipe.wheelchair_photos * scale) if photos else 0):
        scene, path = photos[i % len(photos)]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            writer.write(f"wheelchair_photo_{side}_{i:05d}", jpeg(camera(image, rng), rng), "",
                         "wheelchair_photos", {scene})
    for ingredient, make in SCENES.items():
        wanted, made, tries = round(getattr(recipe, ingredient) * scale), 0, 0
        while made < wanted and tries < wanted * 4:
            tries += 1
            frame = make(pantry, rng)
            if frame is None:
                continue
            writer.write(f"{ingredient}_{side}_{made:05d}", jpeg(camera(frame.image, rng), rng),
                         yolo_rows(frame.rows, frame.image.shape[:2]), ingredient, frame.scenes)
            made += 1
    return writer.manifest


SIDE_SEEDS = {"train": 1, "val": 2, "test": 3}


def build(recipe: Recipe, split: SceneSplit, out: Path, material: Material | None = None) -> Path:
    """Write the recipe's images for the train and val sides; returns data.yaml's path."""
    material = material or Material.load()
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for side in ("train", "val"):
        manifest += _side(recipe, material, split, side, out)  # type: ignore[arg-type]
    with (out / "manifest.jsonl").open("w") as f:
        for row in manifest:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "recipe.json").write_text(recipe.model_dump_json(indent=1) + "\n")
    (out / "split.json").write_text(split.to_json())
    data = {"path": str(out.resolve()), "train": "images/train", "val": "images/val", "names": dict(enumerate(NAMES))}
    path = out / "data.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def summarise(manifest_path: Path) -> dict[str, dict[str, dict[str, int]]]:
    """side -> ingredient -> {images, ebikes}: what a built set holds."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for line in manifest_path.read_text().splitlines():
        row = json.loads(line)
        entry = out.setdefault(row["side"], {}).setdefault(row["ingredient"], {"images": 0, "ebikes": 0})
        entry["images"] += 1
        entry["ebikes"] += row["ebikes"]
    return out
