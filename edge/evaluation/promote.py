"""`gridwatch model promote`: a retrained model replaces the shipped one only when it is better on the same test.

Both models play the same rides (the same held-out scenes, seed and ride length, through the edge's own frame
judge, each with its own decision card) and the same folders of scenes without and with e-bikes. The candidate
is better when it catches at least as many e-bike rides and holds the door falsely no more often, and is
strictly better on one of the two. Only then are its files (the ONNX, its decision card, its verifier) copied
over the shipped ones; the shipped files are kept as `<name>.previous.*` for a rollback, and the comparison is
appended to `promotions.jsonl` beside them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.vision.decision import DecisionCard


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edge.evaluation.elevator import add_arguments as eval_arguments

    parser.add_argument("--candidate", type=Path, required=True, help="the retrained, exported, calibrated .onnx")
    parser.add_argument("--shipped", type=Path, default=None,
                        help="the model it must beat (default: the bundled models/weights/ebike.onnx)")
    parser.add_argument("--dry-run", action="store_true", help="compare and say, copy nothing")
    eval_arguments(parser)  # the rides both are scored on: --source, --split, --negatives, --positives, ...


def _files(model: Path) -> list[tuple[Path, str]]:
    """A model's files and the suffix each takes beside the shipped name."""
    out = [(model, ".onnx")]
    card = DecisionCard.path_for(model)
    if card.is_file():
        out.append((card, ".decision.json"))
        verifier = DecisionCard.for_model(model).verifier_path(model)  # type: ignore[union-attr]
        if verifier is not None:
            out.append((verifier, ".verifier.onnx"))
    return out


def _score(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    from edge.evaluation.elevator import evaluate

    report = evaluate(argparse.Namespace(**{**vars(args), "model": model}))
    total = report["negative"]["total"]
    return {"model": str(model), "recall": report["positive"]["recall"], "caught": report["positive"]["caught"],
            "positive_rides": report["positive"]["rides"], "false_holds": total["false_holds"],
            "negative_hours": total["hours"], "holds_per_camera_hour": total["holds_per_camera_hour"],
            "delay_p50_s": report["time_to_alert_s"]["p50"], "rule": report["rule"]}


def better(candidate: dict[str, Any], shipped: dict[str, Any]) -> tuple[bool, str]:
    c_recall, s_recall = candidate["recall"] or 0.0, shipped["recall"] or 0.0
    if c_recall < s_recall:
        return False, f"it catches fewer e-bike rides ({candidate['caught']} against {shipped['caught']})"
    if candidate["false_holds"] > shipped["false_holds"]:
        return False, f"it holds the door falsely more often ({candidate['false_holds']} against " \
                      f"{shipped['false_holds']})"
    if c_recall == s_recall and candidate["false_holds"] == shipped["false_holds"]:
        return False, "it is no better: the same recall and the same false holds"
    return True, (f"recall {c_recall} against {s_recall}, false holds {candidate['false_holds']} against "
                  f"{shipped['false_holds']}")


def main(args: argparse.Namespace) -> int:
    from models.vision.model_file import DEFAULT_EBIKE_MODEL

    shipped_path = args.shipped or DEFAULT_EBIKE_MODEL
    for path in (args.candidate, shipped_path):
        if not Path(path).is_file():
            print(f"error: no model at {path}", file=sys.stderr)
            return 2
    scores = {"candidate": _score(args, args.candidate), "shipped": _score(args, shipped_path)}
    for name, s in scores.items():
        print(f"{name:<9} {s['model']}: recall {s['caught']}/{s['positive_rides']} = {s['recall']}, false holds "
              f"{s['false_holds']} in {s['negative_hours']} camera-h, time to alert p50 {s['delay_p50_s']} s")
    ok, why = better(scores["candidate"], scores["shipped"])
    if not ok:
        print(f"not promoted: {why}")
        return 1
    if args.dry_run:
        print(f"would promote: {why}")
        return 0
    base = shipped_path.with_suffix("")
    for path, suffix in _files(shipped_path):
        shutil.copy2(path, f"{base}.previous{suffix}")
    for suffix in (".decision.json", ".verifier.onnx"):  # the shipped card must not outlive its model
        Path(f"{base}{suffix}").unlink(missing_ok=True)
    for path, suffix in _files(args.candidate):
        shutil.copy2(path, f"{base}{suffix}")
    if DecisionCard.path_for(args.candidate).is_file():  # the card names its verifier relative to itself
        card = DecisionCard.for_model(args.candidate)
        if card is not None and card.verifier is not None:
            card.model_copy(update={"verifier": card.verifier.model_copy(
                update={"file": f"{base.name}.verifier.onnx"})}).write(shipped_path)
    with (shipped_path.parent / "promotions.jsonl").open("a") as f:
        f.write(json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), "why": why, **scores}) + "\n")
    print(f"promoted {args.candidate} over {shipped_path}: {why} (the previous files are {base.name}.previous.*)")
    return 0
