"""ultralytics reads YOLO_CONFIG_DIR when first imported: point it at a temporary folder for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.training.environment import offline_ultralytics


@pytest.fixture(scope="session")
def yolo_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config_dir = Path(os.environ.get("GRIDWATCH_TEST_YOLO_DIR") or tmp_path_factory.mktemp("yolo-config"))
    return offline_ultralytics(config_dir)
