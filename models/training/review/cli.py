"""`gridwatch model review | merge`: arguments and entry points. Light at import (the whole CLI's parser imports
it); bad input ends in one line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    review = sub.add_parser("review", help="label the frames the edge was unsure about: a local page, or --terminal")
    review.add_argument("dir", type=Path, help="a flywheel folder (images/, labels/, data.yaml), e.g. "
                                               "var/edge-01/unsure")
    review.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one)")
    review.add_argument("--terminal", action="store_true", help="type the decisions instead (no browser)")

    merge = sub.add_parser("merge", help="reviewed frames of flywheel folders -> one labelled folder to train on")
    merge.add_argument("dirs", type=Path, nargs="+", metavar="DIR", help="flywheel folders")
    merge.add_argument("--out", type=Path, required=True, help="the labelled folder (created, or added to)")


def review(args: argparse.Namespace) -> int:
    from models.training.review.folder import FlywheelFolder
    from models.training.review.labels import ReviewError

    try:
        folder = FlywheelFolder(args.dir)
        if args.terminal:
            from models.training.review.terminal import run

            return run(folder, sys.stdin, sys.stdout)
        from models.training.review.server import serve

        serve(folder, args.port)
    except (ReviewError, OSError) as exc:
        return _fail("review", exc)
    except KeyboardInterrupt:
        pass
    return 0


def merge(args: argparse.Namespace) -> int:
    from models.training.review.labels import ReviewError
    from models.training.review.merge import merge as merge_folders

    try:
        report = merge_folders(args.dirs, args.out)
    except (ReviewError, OSError) as exc:
        return _fail("merge", exc)
    print("\n".join(report.lines()))
    return 0


def _fail(command: str, exc: Exception) -> int:
    text = str(exc) if not isinstance(exc, OSError) or not exc.filename else f"{exc.filename}: {exc.strerror}"
    for line in text.splitlines():
        print(f"gridwatch model {command}: error: {line}", file=sys.stderr)
    return 1


HANDLERS = {"review": review, "merge": merge}
