"""`gridwatch model train | export | eval`: a labelled folder -> a new model and its scores.

A city retrains on its own cameras: label the unsure frames the edge saved (YOLO format), then
  gridwatch model train --data var/edge-01/unsure --out runs/city1
  gridwatch model export runs/city1/weights/last.pt --out models/weights/city1.onnx
  gridwatch model eval --model models/weights/city1.onnx --data labelled/ --split runs/city1/split.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.training import data_cli
from models.training.dataset import (
    DEFAULT_NAMES,
    find_images,
    split_by_original,
    write_background_crops,
    write_dataset,
)
from models.training.review import cli as review_cli
from models.vision.model_file import DEFAULT_EBIKE_MODEL

SHARED_DIR = Path(__file__).resolve().parents[3] / "shared"
EBIKE_SET = SHARED_DIR / "data" / "vision" / "ebike-elevator" / "yolo"
BASE_WEIGHTS = SHARED_DIR / "weights" / "yolov5nu_from_v5n_backbone.pt"
BUNDLED_PT = DEFAULT_EBIKE_MODEL.with_suffix(".pt")
BUNDLED_SPLIT = DEFAULT_EBIKE_MODEL.with_suffix(".split.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", required=True)
    train = sub.add_parser("train", help="fine-tune on a labelled YOLO folder, split by original")
    train.add_argument("--data", type=Path, default=EBIKE_SET,
                       help="a YOLO folder (images + labels) or a data.yaml (default: the shared e-bike set)")
    train.add_argument("--out", type=Path, required=True, help="run folder: weights/last.pt, split.json, results")
    train.add_argument("--weights", type=Path, default=None,
                       help=f"start from (default: {BASE_WEIGHTS.name} when present, else the bundled model)")
    train.add_argument("--val-share", type=float, default=0.25, help="share of the originals held out (0: none)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int, default=60)
    train.add_argument("--imgsz", type=int, default=320)
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--device", default="auto", help="auto (GPU when torch sees one), cpu, 0, ...")
    train.add_argument("--workers", type=int, default=2, help="data loader processes")
    train.add_argument("--background-crops", type=int, default=6,
                       help="crops without an e-bike per training original, added to train (default 6; 0: none)")
    train.add_argument("--lr0", type=float, default=None,
                       help="peak learning rate, AdamW (default: ultralytics' auto choice, ~1.7e-3 here); "
                            "a low one (2e-4) fine-tunes the shipped model without forgetting")
    train.add_argument("--warmup-epochs", type=float, default=3.0, help="learning-rate warmup (fractions allowed)")
    train.add_argument("--names", nargs="+", default=list(DEFAULT_NAMES), help="class names, in label order")

    train.add_argument("--split", type=Path, default=None,
                       help="with a data.yaml from `model data build`: its split file, copied to the run")

    export = sub.add_parser("export", help="ONNX for the edge, at the camera's aspect")
    export.add_argument("weights", type=Path, help="a .pt from `model train`")
    export.add_argument("--out", type=Path, required=True, help="the .onnx to write")
    export.add_argument("--imgsz", type=int, nargs=2, default=[192, 320], metavar=("H", "W"),
                        help="input height and width (default 192 320: 16:9 cameras)")

    evaluate = sub.add_parser("eval", help="precision, recall, AP50 on held-out labelled images")
    evaluate.add_argument("--model", type=Path, default=DEFAULT_EBIKE_MODEL, help="an exported .onnx (or a .pt "
                          "with --backend ultralytics); default: the bundled e-bike model")
    evaluate.add_argument("--data", type=Path, default=EBIKE_SET, help="labelled YOLO folder")
    evaluate.add_argument("--split", type=Path, default=None,
                          help="split.json from `model train`: score its held-out originals "
                               "(default: the bundled model's split with the default model and data)")
    evaluate.add_argument("--all-images", action="store_true", help="score every image, not a held-out split")
    evaluate.add_argument("--with-augmented", action="store_true",
                          help="also score the augmented copies of the held-out originals")
    evaluate.add_argument("--conf", type=float, default=0.25, help="where precision and recall are read")
    evaluate.add_argument("--backend", default="onnx", choices=("onnx", "ultralytics"))
    evaluate.add_argument("--second-opinion", type=Path, default=None, metavar="YOLOX_ONNX",
                          help="also score the COCO YOLOX-Nano's bicycles/motorcycles alone, in union and as a "
                               f"confirmation (e.g. {SHARED_DIR / 'weights' / 'yolox_nano.onnx'})")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    review_cli.add_parsers(sub)

    data_cli.add_arguments(sub)

    verifier = sub.add_parser("verifier", help="train the crop verifier on a built set, mined with a detector")
    verifier.add_argument("--data", type=Path, required=True, help="a set built by `gridwatch model data build`")
    verifier.add_argument("--detector", type=Path, required=True, help="the exported detector whose boxes it checks")
    verifier.add_argument("--out", type=Path, required=True, help="the verifier's .onnx")
    verifier.add_argument("--epochs", type=int, default=8)
    verifier.add_argument("--context", type=float, default=0.15, help="crop margin, a share of the box per side")
    verifier.add_argument("--weights", type=Path, default=BASE_WEIGHTS, help="the COCO backbone to start from")
    verifier.add_argument("--seed", type=int, default=0)

    calibrate = sub.add_parser("calibrate", help="fit the decision card (calibration, fusion, operating points) "
                               "on the val side of a built set")
    from edge.evaluation import calibrate as calibrate_module  # it replays rides through the edge's frame judge

    calibrate_module.add_arguments(calibrate)

    promote = sub.add_parser("promote", help="replace the shipped model with a retrained one, only when it is "
                             "better on the same test rides")
    from edge.evaluation import promote as promote_module

    promote_module.add_arguments(promote)


def main(args: argparse.Namespace) -> int:
    handlers = {"train": _train, "export": _export, "eval": _eval, "data": data_cli.main, "verifier": _verifier,
                "calibrate": _calibrate, "promote": _promote, **review_cli.HANDLERS}
    return handlers[args.model_command](args)


def _verifier(args: argparse.Namespace) -> int:
    from models.training.verifier import collect, train_verifier
    from models.vision.model_file import load_detector

    detector = load_detector(args.detector, conf=0.05)
    sides = {}
    for side in ("train", "val"):
        folder = args.data / "images" / side
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png")) if folder.is_dir() else []
        sides[side] = collect(images, detector, context=args.context, seed=args.seed) if images else None
    if sides["train"] is None:
        print(f"error: no training images under {args.data / 'images' / 'train'}", file=sys.stderr)
        return 2
    print(f"verifier crops: train {sides['train'].counts()}"
          + (f", val {sides['val'].counts()}" if sides["val"] is not None else ""))
    result = train_verifier(sides["train"], sides["val"], args.out, weights=args.weights, epochs=args.epochs,
                            seed=args.seed)
    auc = "-" if result.val_auc is None else f"{result.val_auc:.3f}"
    print(f"trained the verifier in {result.seconds:.0f} s: {result.onnx}; val ROC AUC {auc}")
    print(f"next: gridwatch model calibrate --model {args.detector} --verifier {args.out} --data {args.data}")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from edge.evaluation.promote import main as promote

    return promote(args)


def _calibrate(args: argparse.Namespace) -> int:
    from edge.evaluation.calibrate import main as calibrate

    return calibrate(args)


def _train(args: argparse.Namespace) -> int:
    from models.training.train import train, write_split

    data = args.data
    if data.suffix in (".yaml", ".yml"):
        data_yaml, split_file = data, None
        if args.split is not None:  # a built set: its scenes were split before it was made
            split_file = args.out / "split.json"
            args.out.mkdir(parents=True, exist_ok=True)
            split_file.write_text(args.split.read_text())
    else:
        split = split_by_original(find_images(data), args.val_share, args.seed)
        data_yaml = write_dataset(split, args.out / "dataset", tuple(args.names))
        crops = write_background_crops(split.train, args.out / "dataset", args.background_crops, seed=args.seed)
        train_groups, val_groups = split.groups()
        split_file = args.out / "split.json"
        write_split(split_file, train_groups, val_groups, dataset=str(data), seed=args.seed,
                    val_share=args.val_share)
        print(f"split by original: {len(train_groups)} train ({len(split.train)} images), "
              f"{len(val_groups)} held out ({len(split.val)} images, {len(split.val_originals)} originals); "
              f"{crops} crops without e-bikes added to train")
    weights = args.weights or (BASE_WEIGHTS if BASE_WEIGHTS.is_file() else BUNDLED_PT)
    result = train(data_yaml, args.out, weights=weights, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
                   device=args.device, seed=args.seed, workers=args.workers, lr0=args.lr0,
                   warmup_epochs=args.warmup_epochs)
    print(f"trained {result.epochs} epochs in {result.seconds:.0f} s from {weights}: {result.weights}")
    for key, value in result.metrics.items():
        print(f"  {key}: {value:.3f}")
    print(f"next: gridwatch model export {result.weights} --out model.onnx")
    if split_file:
        print(f"      gridwatch model eval --model model.onnx --data {data} --split {split_file}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from models.training.train import export_onnx
    from models.vision.model_file import load_detector, read_model_info

    out = export_onnx(args.weights, args.out, input_hw=(args.imgsz[0], args.imgsz[1]))
    info = read_model_info(out)
    load_detector(out)  # the edge runtime must load what was exported
    print(f"exported {out} ({out.stat().st_size / 1e6:.1f} MB): classes {list(info.class_names)}, "
          f"input {info.input_hw}; loads in the edge runtime")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from models.training.evaluate import evaluate, held_out
    from models.vision.model_file import load_detector

    images = find_images(args.data)
    split = args.split
    if split is None and not args.all_images and args.model == DEFAULT_EBIKE_MODEL and args.data == EBIKE_SET:
        split = BUNDLED_SPLIT
    if split is not None and not args.all_images:
        images = held_out(images, split, originals_only=not args.with_augmented)
    scope = "every image" if split is None or args.all_images else f"held-out originals of {split}"
    # Run with a low threshold so AP sees the whole precision-recall curve; P and R are read at --conf.
    detector = load_detector(args.model, backend=args.backend, conf=0.001)
    report = evaluate(detector, images, conf=args.conf)
    if args.json:
        print(json.dumps({"model": str(args.model), "scope": scope, "images": report.images, "conf": args.conf,
                          "classes": report.classes, "ms_per_image": round(report.ms_per_image, 2)}))
        return 0
    print(f"model {args.model} ({args.backend}) on {report.images} images: {scope}")
    print("\n".join(report.lines()))
    if args.second_opinion:
        from models.training.second_opinion import compare

        print(f"e-bikes with the COCO detector {args.second_opinion.name} as a second opinion "
              f"(P and R at conf {args.conf:g}):")
        for row in compare(detector, args.second_opinion, images, conf=args.conf):
            print(f"  {row.way:<10} P {row.precision:.3f}  R {row.recall:.3f}  AP50 {row.ap50:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(argparse.ArgumentParser().parse_args()))
