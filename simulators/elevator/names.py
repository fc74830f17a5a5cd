"""How footage names say what belongs together: augmented copies of one screenshot, frames of one camera.

No OpenCV here: the training CLI reads these names when its parser is built.
"""

from __future__ import annotations

import re

_ORIGINAL = re.compile(r"^(Snipaste_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})")
# Frames the edge saved for labelling (edge/elevator/flywheel.py) are named <camera>_<epoch ms>: one camera's
# frames are near-copies, so a split holds out whole cameras, named `camera:<camera>` in a split file.
EDGE_FRAME = re.compile(r"^(?P<camera>.+)_\d{12,14}$")


def group_of(stem: str) -> str:
    """What a split keeps together: the camera of an edge frame, else the original (the Snipaste prefix)."""
    frame = EDGE_FRAME.match(stem)
    return f"camera:{frame['camera']}" if frame else original_of(stem)


def original_of(stem: str) -> str:
    """The original a (possibly augmented) image was made from: the `Snipaste_<date>_<time>` prefix."""
    match = _ORIGINAL.match(stem)
    return match.group(1) if match else stem
