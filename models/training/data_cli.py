"""`gridwatch model data split | build | negatives | show`: the training data recipe as commands, from a seed.

  gridwatch model data split --out runs/split.json                 # which scenes train, calibrate, score
  gridwatch model data build --recipe full --split runs/split.json --out runs/data/full
  gridwatch model data negatives --split runs/split.json --out runs/negatives
  gridwatch model train --data runs/data/full/data.yaml --split runs/split.json --out runs/full
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_VAL_COUNT = 5


def add_arguments(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="make training data: the split by scene, synthetic images, hard negatives")
    verbs = data.add_subparsers(dest="data_command", required=True)

    split = verbs.add_parser("split", help="train / val (calibration) / test by scene, for every source")
    split.add_argument("--out", type=Path, required=True, help="the split file to write")
    split.add_argument("--test-from", type=Path, default=None,
                       help="keep the test originals of this split file (default: the bundled model's), so a new "
                            "model is scored on what the shipped one never saw")
    split.add_argument("--val-count", type=int, default=DEFAULT_VAL_COUNT,
                       help=f"elevator originals drawn for calibration (default {DEFAULT_VAL_COUNT})")
    split.add_argument("--wheelchair-shares", type=float, nargs=2, default=(0.2, 0.2), metavar=("VAL", "TEST"),
                       help="shares of the wheelchair photos for val and test (default 0.2 0.2)")
    split.add_argument("--seed", type=int, default=0)

    build = verbs.add_parser("build", help="a training set from a recipe (train and val sides)")
    build.add_argument("--recipe", default="full",
                       help="a preset (real, paste, wheelchairs, full) or a recipe JSON file (default full)")
    build.add_argument("--split", type=Path, required=True, help="split file from `model data split`")
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--seed", type=int, default=None, help="override the recipe's seed")

    negatives = verbs.add_parser("negatives", help="scenes without an e-bike from the test side, by kind")
    negatives.add_argument("--split", type=Path, required=True)
    negatives.add_argument("--out", type=Path, required=True)
    negatives.add_argument("--per-kind", type=int, default=12, help="scenes of each kind (default 12)")
    negatives.add_argument("--seed", type=int, default=0)

    show = verbs.add_parser("show", help="what a built set holds, by side and ingredient")
    show.add_argument("dir", type=Path)


def main(args: argparse.Namespace) -> int:
    return {"split": _split, "build": _build, "negatives": _negatives, "show": _show}[args.data_command](args)


def _split(args: argparse.Namespace) -> int:
    from models.training.cli import BUNDLED_SPLIT
    from models.training.scenes import held_out_originals, make_split
    from models.training.synth.recipe import WHEELCHAIR_SOURCE
    from models.training.synth.sources import Material

    material = Material.load()
    test = held_out_originals(args.test_from or BUNDLED_SPLIT)
    val_share, test_share = args.wheelchair_shares
    split = make_split(material.elevator, test=test, val_count=args.val_count, seed=args.seed,
                       extra={WHEELCHAIR_SOURCE: (sorted(material.wheelchairs), val_share, test_share)})
    split.write(args.out)
    wheel = split.extra[WHEELCHAIR_SOURCE]
    print(f"{args.out}: originals {len(split.train)} train, {len(split.val)} val, {len(split.test)} test; "
          f"wheelchair photos {len(wheel['train'])} / {len(wheel['val'])} / {len(wheel['test'])}; "
          f"street e-bikes ({len(material.street)}) train")
    return 0


def _recipe(name: str, seed: int | None):
    from models.training.synth.recipe import PRESETS, Recipe

    path = Path(name)
    recipe = Recipe.model_validate_json(path.read_text()) if path.suffix == ".json" else PRESETS.get(name)
    if recipe is None:
        raise SystemExit(f"error: no recipe {name!r}: a preset ({', '.join(PRESETS)}) or a .json file")
    return recipe if seed is None else recipe.model_copy(update={"seed": seed})


def _build(args: argparse.Namespace) -> int:
    from models.training.scenes import SceneSplit
    from models.training.synth.recipe import build, summarise

    recipe = _recipe(args.recipe, args.seed)
    data_yaml = build(recipe, SceneSplit.read(args.split), args.out)
    _print_summary(summarise(args.out / "manifest.jsonl"))
    print(f"next: gridwatch model train --data {data_yaml} --split {args.split} --out runs/{recipe.name}")
    return 0


def _negatives(args: argparse.Namespace) -> int:
    from models.training.scenes import SceneSplit
    from models.training.synth.negatives import build_negatives

    counts = build_negatives(SceneSplit.read(args.split), args.out, per_kind=args.per_kind, seed=args.seed)
    print(f"{args.out}: {sum(counts.values())} scenes without an e-bike: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"next: gridwatch eval elevator --negatives {args.out}")
    return 0


def _print_summary(summary: dict) -> None:
    for side, rows in summary.items():
        images = sum(r["images"] for r in rows.values())
        bikes = sum(r["ebikes"] for r in rows.values())
        print(f"{side}: {images} images, {bikes} e-bike boxes")
        for ingredient, row in rows.items():
            print(f"  {ingredient:<20} {row['images']:>5} images {row['ebikes']:>5} e-bikes")


def _show(args: argparse.Namespace) -> int:
    from models.training.synth.recipe import summarise

    manifest = args.dir / "manifest.jsonl"
    if not manifest.is_file():
        raise SystemExit(f"error: {manifest} not found: not a set built by `gridwatch model data build`")
    _print_summary(summarise(manifest))
    recipe = args.dir / "recipe.json"
    if recipe.is_file():
        print("recipe: " + json.dumps(json.loads(recipe.read_text())))
    return 0
