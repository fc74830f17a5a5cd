"""The empty-car reference: it drops boxes on the car's own pixels, never a bike, survives the lamp dimming,
relearns when the camera moves, and suppresses nothing until it has learnt."""

from __future__ import annotations

import numpy as np
import pytest

from models.vision.empty_car import EmptyCar, EmptyCarParams

POSTER = (400.0, 80.0, 560.0, 300.0)  # a region of the car the detector mistakes for a bike
FLOOR = (200.0, 250.0, 420.0, 460.0)  # where a bike would stand


def _car(seed: int = 0) -> np.ndarray:
    """A 480x640 car: panelled walls with seams, a poster of blocks and lines of text, a tiled floor."""
    rng = np.random.default_rng(seed)
    image = np.full((480, 640, 3), 140, np.uint8)
    for x in rng.integers(0, 640, 6):
        image[:, x:x + 4] = 60  # panel seams
    image[80:300, 400:560] = 230
    for y in range(100, 290, 24):  # the poster's title block and lines of text
        image[y:y + 10, 410:int(rng.integers(450, 550))] = int(rng.integers(0, 90))
    image[90:150, 420:500] = (200, 40, 40)
    yy, xx = np.mgrid[300:480, 0:640]
    image[300:] = np.where((((yy // 40) + (xx // 40)) % 2)[..., None] == 0, 90, 50).astype(np.uint8)
    return image


def _with_bike(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[260:450, 220:400] = 30  # a dark body
    out[380:450, 210:260] = 240  # a bright wheel
    return out


def _learnt(params: EmptyCarParams | None = None) -> tuple[EmptyCar, np.ndarray]:
    car, image = EmptyCar(params or EmptyCarParams()), _car()
    for i in range(12):
        assert car.learn(image, float(i * 3), door_closed=True, max_score=0.0)
    return car, image


def test_a_box_on_the_empty_car_is_dropped_a_bike_is_not():
    car, image = _learnt()
    assert car.ready
    assert car.matches(image, [POSTER]) == [True]
    bike = _with_bike(image)
    assert car.matches(bike, [FLOOR, POSTER]) == [False, True]


@pytest.mark.parametrize("gain,offset", [(0.6, 0), (1.3, -20), (0.8, 25)])
def test_light_changes_do_not_break_the_match(gain: float, offset: int):
    car, image = _learnt()
    dimmer = np.clip(image.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
    assert car.matches(dimmer, [POSTER]) == [True]
    assert car.matches(_with_bike(dimmer), [FLOOR]) == [False]


def test_nothing_is_suppressed_before_the_reference_is_ready():
    car = EmptyCar(EmptyCarParams(ready_frames=10))
    image = _car()
    for i in range(9):
        car.learn(image, float(i * 3), door_closed=True, max_score=0.0)
    assert not car.ready and car.matches(image, [POSTER]) == [False]


def test_only_closed_door_frames_with_nothing_detected_teach():
    car, image = EmptyCar(EmptyCarParams()), _car()
    assert not car.learn(image, 0.0, door_closed=False, max_score=0.0)
    assert not car.learn(image, 0.0, door_closed=True, max_score=0.5)
    assert car.learn(image, 0.0, door_closed=True, max_score=0.0)
    assert not car.learn(image, 1.0, door_closed=True, max_score=0.0)  # too soon after the last one
    assert car.frames == 1


def test_a_moved_camera_drops_the_reference_and_relearns():
    params = EmptyCarParams(moved_frames=3, ready_frames=4)
    car, image = _learnt(params)
    moved = np.roll(np.roll(_car(seed=5), 120, axis=1), 90, axis=0)  # another view altogether
    for i in range(3):
        car.learn(moved, 100.0 + i * 3, door_closed=True, max_score=0.0)
    assert car.resets == 1 and not car.ready
    assert car.matches(moved, [POSTER]) == [False]  # fails safe while relearning
    for i in range(4):
        car.learn(moved, 200.0 + i * 3, door_closed=True, max_score=0.0)
    assert car.ready and car.matches(moved, [(0.0, 170.0, 160.0, 390.0)]) == [True]


def test_disabled_never_learns():
    car = EmptyCar(EmptyCarParams(enabled=False))
    assert not car.learn(_car(), 0.0, door_closed=True, max_score=0.0) and not car.ready
