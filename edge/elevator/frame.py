"""One camera frame on its way from a source (MQTT or OpenCV) to the detector thread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """Exactly one of `jpeg` (MQTT: decoded in the detector thread, never in the MQTT callback) and `image`
    (OpenCV sources: already decoded BGR) is set. `ts` is event time (epoch s): the camera's `ts` property,
    else the arrival time; `received` is the wall clock at arrival (latency and silence are measured on it)."""

    elevator_id: str
    ts: float
    received: float
    jpeg: bytes | None = None
    image: np.ndarray | None = None
    topic: str | None = None  # where it came from, for dead letters

    def __post_init__(self) -> None:
        if (self.jpeg is None) == (self.image is None):
            raise ValueError("a Frame carries either jpeg bytes or a decoded image")
