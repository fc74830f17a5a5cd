"""Make ultralytics work offline: no update checks, telemetry, auto-installs or font downloads.

FACTS.md lists what reaches for the network: YOLO_OFFLINE stops most of it; the dataset check still fetches
Arial.ttf unless one sits in $YOLO_CONFIG_DIR/Ultralytics/, so matplotlib's DejaVu Sans (installed with
ultralytics) is put there under ultralytics' names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def offline_ultralytics(config_dir: Path | None = None) -> Path:
    """Set the environment before ultralytics is imported; returns the config folder used."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if config_dir is None:
        config_dir = Path(os.environ.get("YOLO_CONFIG_DIR") or Path(tempfile.gettempdir()) / "gridwatch-yolo")
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    fonts = config_dir / "Ultralytics"
    fonts.mkdir(parents=True, exist_ok=True)
    import matplotlib  # a dependency of ultralytics; ships DejaVu Sans

    dejavu = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in _FONT_NAMES:
        if not (fonts / name).exists():
            shutil.copyfile(dejavu, fonts / name)
    return config_dir
