"""Drawn hard negatives: what else is wheeled or carried into a car, as RGBA sprites.

No photographs of these could be had here (../shared/data/vision/ebike-extra/README.md): an ordinary bicycle,
a suitcase, a delivery box, a stroller and a shopping trolley are drawn, roughly, from their parts. They are
crude on purpose and labelled as nothing: what the detector must learn from them is that thin wheels, a box
on castors or a basket on a frame are not an e-bike, whose mark is a bulky body between two small thick wheels.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Sprite = np.ndarray  # (h, w, 4) uint8, BGR + alpha


def _canvas(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8)


def _colour(rng: np.random.Generator, low: float = 20, high: float = 235) -> tuple[float, float, float]:
    return tuple(float(v) for v in rng.uniform(low, high, 3))  # type: ignore[return-value]


def _line(img: np.ndarray, mask: np.ndarray, a: tuple[float, float], b: tuple[float, float],
          colour: tuple[float, ...], width: int) -> None:
    pa, pb = (int(a[0]), int(a[1])), (int(b[0]), int(b[1]))
    cv2.line(img, pa, pb, colour, width, cv2.LINE_AA)
    cv2.line(mask, pa, pb, 255, width, cv2.LINE_AA)


def _wheel(img: np.ndarray, mask: np.ndarray, centre: tuple[float, float], radius: float, tyre: int,
           rng: np.random.Generator, spokes: int = 0) -> None:
    c = (int(centre[0]), int(centre[1]))
    r = max(int(radius), 2)
    dark = _colour(rng, 10, 60)
    cv2.circle(img, c, r, dark, tyre, cv2.LINE_AA)
    cv2.circle(mask, c, r, 255, tyre, cv2.LINE_AA)
    metal = _colour(rng, 140, 230)
    for k in range(spokes):
        angle = np.pi * k / spokes
        dx, dy = np.cos(angle) * r, np.sin(angle) * r
        _line(img, mask, (c[0] - dx, c[1] - dy), (c[0] + dx, c[1] + dy), metal, 1)
    cv2.circle(img, c, max(r // 8, 1), metal, -1)
    cv2.circle(mask, c, max(r // 8, 1), 255, -1)


def bicycle(rng: np.random.Generator) -> Sprite:
    """Two large thin wheels with spokes and a thin diamond frame, saddle and handlebar: no body, no battery."""
    w = int(rng.integers(160, 260))
    h = int(w * rng.uniform(0.58, 0.7))
    img, mask = _canvas(h, w)
    r = h * 0.3
    rear, front = (r + 2, h - r - 2), (w - r - 2, h - r - 2)
    _wheel(img, mask, rear, r, max(2, w // 70), rng, spokes=int(rng.integers(6, 12)))
    _wheel(img, mask, front, r, max(2, w // 70), rng, spokes=int(rng.integers(6, 12)))
    frame, width = _colour(rng), max(2, w // 60)
    crank = (w * 0.45, h - r - 2)
    seat, head = (w * 0.38, h * 0.25), (w * 0.72, h * 0.22)
    for a, b in ((rear, crank), (crank, seat), (seat, rear), (seat, head), (crank, head), (head, front)):
        _line(img, mask, a, b, frame, width)
    _line(img, mask, (seat[0] - w * 0.06, seat[1] - 4), (seat[0] + w * 0.05, seat[1] - 4), _colour(rng, 0, 60),
          max(3, w // 35))
    _line(img, mask, head, (head[0] - w * 0.03, h * 0.08), frame, width)
    _line(img, mask, (head[0] - w * 0.09, h * 0.08), (head[0] + w * 0.04, h * 0.08), _colour(rng, 0, 80), width)
    if rng.random() < 0.4:  # a front basket of thin wire
        bx, by = int(front[0] - w * 0.12), int(h * 0.1)
        cv2.rectangle(img, (bx, by), (bx + int(w * 0.16), by + int(h * 0.15)), frame, 1)
        cv2.rectangle(mask, (bx, by), (bx + int(w * 0.16), by + int(h * 0.15)), 255, 1)
    return np.dstack([img, mask])


def suitcase(rng: np.random.Generator) -> Sprite:
    """A hard case on castors with ribs, and its pulled-out handle half the time."""
    w = int(rng.integers(70, 130))
    body_h = int(w * rng.uniform(1.3, 1.7))
    handle = rng.random() < 0.5
    h = body_h + (int(body_h * 0.45) if handle else 0) + 10
    img, mask = _canvas(h, w)
    top = h - body_h - 10
    colour = _colour(rng)
    cv2.rectangle(img, (2, top), (w - 3, h - 10), colour, -1)
    cv2.rectangle(mask, (2, top), (w - 3, h - 10), 255, -1)
    for k in range(1, int(rng.integers(2, 6))):
        x = int(k * w / 6) + 4
        cv2.line(img, (x, top + 4), (x, h - 14), tuple(c * 0.75 for c in colour), 2)
    for x in (8, w - 10):
        cv2.circle(img, (x, h - 6), 5, (25, 25, 25), -1)
        cv2.circle(mask, (x, h - 6), 5, 255, -1)
    if handle:
        grey = _colour(rng, 60, 200)
        for x in (w // 2 - w // 6, w // 2 + w // 6):
            _line(img, mask, (x, top), (x, 2), grey, 3)
        _line(img, mask, (w // 2 - w // 6, 3), (w // 2 + w // 6, 3), (30, 30, 30), 5)
    return np.dstack([img, mask])


def delivery_box(rng: np.random.Generator) -> Sprite:
    """A cardboard box in three-quarter view: three faces of one brown, a strip of tape, a label."""
    w = int(rng.integers(90, 200))
    h = int(w * rng.uniform(0.7, 1.1))
    img, mask = _canvas(h, w)
    brown = np.array([rng.uniform(40, 90), rng.uniform(90, 140), rng.uniform(140, 200)])
    depth = int(w * rng.uniform(0.2, 0.35))
    front = np.array([[0, depth], [w - depth, depth], [w - depth, h - 1], [0, h - 1]])
    topf = np.array([[0, depth], [depth, 0], [w - 1, 0], [w - depth, depth]])
    side = np.array([[w - depth, depth], [w - 1, 0], [w - 1, h - depth], [w - depth, h - 1]])
    for quad, shade in ((front, 1.0), (topf, 1.15), (side, 0.8)):
        cv2.fillConvexPoly(img, quad.astype(np.int32), np.clip(brown * shade, 0, 255).tolist())
        cv2.fillConvexPoly(mask, quad.astype(np.int32), 255)
    cv2.line(img, (depth // 2, depth // 2), (w - depth // 2, depth // 2), (200, 200, 190), max(2, w // 25))
    lx, ly = int(w * 0.15), int(depth + h * 0.25)
    cv2.rectangle(img, (lx, ly), (lx + int(w * 0.3), ly + int(h * 0.2)), (235, 235, 235), -1)
    return np.dstack([img, mask])


def stroller(rng: np.random.Generator) -> Sprite:
    """A pram: a deep seat under a canopy on a light frame with four small wheels and a push bar."""
    w = int(rng.integers(120, 200))
    h = int(w * rng.uniform(1.0, 1.3))
    img, mask = _canvas(h, w)
    fabric = _colour(rng)
    seat = np.array([[w * 0.15, h * 0.35], [w * 0.75, h * 0.35], [w * 0.65, h * 0.7], [w * 0.25, h * 0.7]])
    cv2.fillConvexPoly(img, seat.astype(np.int32), fabric)
    cv2.fillConvexPoly(mask, seat.astype(np.int32), 255)
    cv2.ellipse(img, (int(w * 0.3), int(h * 0.38)), (int(w * 0.22), int(h * 0.2)), 0, 180, 360, fabric, -1)
    cv2.ellipse(mask, (int(w * 0.3), int(h * 0.38)), (int(w * 0.22), int(h * 0.2)), 0, 180, 360, 255, -1)
    frame = _colour(rng, 120, 230)
    for a, b in (((w * 0.25, h * 0.7), (w * 0.15, h * 0.9)), ((w * 0.65, h * 0.7), (w * 0.8, h * 0.9)),
                 ((w * 0.75, h * 0.35), (w * 0.95, h * 0.1))):
        _line(img, mask, a, b, frame, max(2, w // 50))
    for x in (w * 0.15, w * 0.8):
        _wheel(img, mask, (x, h * 0.92), h * 0.07, max(2, w // 40), rng)
    return np.dstack([img, mask])


def trolley(rng: np.random.Generator) -> Sprite:
    """A shopping or luggage trolley: a wire basket (a grid of thin lines) on four castors."""
    w = int(rng.integers(110, 190))
    h = int(w * rng.uniform(0.8, 1.1))
    img, mask = _canvas(h, w)
    metal = _colour(rng, 120, 230)
    x1, y1, x2, y2 = int(w * 0.05), int(h * 0.15), int(w * 0.9), int(h * 0.7)
    for x in range(x1, x2 + 1, max((x2 - x1) // 8, 3)):
        _line(img, mask, (x, y1), (x, y2), metal, 1)
    for y in range(y1, y2 + 1, max((y2 - y1) // 6, 3)):
        _line(img, mask, (x1, y), (x2, y), metal, 1)
    _line(img, mask, (x2, y1), (w * 0.98, h * 0.02), metal, 3)
    for x in (x1 + 4, x2 - 4):
        _line(img, mask, (x, y2), (x, h * 0.92), metal, 2)
        _wheel(img, mask, (x, h * 0.94), h * 0.05, 3, rng)
    return np.dstack([img, mask])


PROPS: dict[str, Callable[[np.random.Generator], Sprite]] = {
    "bicycle": bicycle, "suitcase": suitcase, "delivery_box": delivery_box, "stroller": stroller,
    "trolley": trolley,
}
