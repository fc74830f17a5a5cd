"""Backgrounds to paste into: real cars and lobbies without their bikes, and drawn empty cars.

- `painted`: a screenshot with every e-bike box painted out (the simulator's paint_out), people kept;
- `crop`: a part of a screenshot that touches no e-bike box, people clipped to it;
- `drawn`: an empty car drawn from scratch (steel or panelled walls in perspective, a floor, a door seam,
  a button panel, posters, uneven light): the car a camera sees most of the day, and what a poster looks like.
The painting-out and the crops are the simulator's own (simulators/elevator/footage.py), so the rides the
model is scored on and the images it trains on are made by one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.training.synth.cutouts import Box, overlap_share
from simulators.elevator.footage import clean_crop, paint_out


@dataclass(frozen=True)
class Background:
    image: np.ndarray  # BGR
    people: tuple[Box, ...]  # person boxes already in it (kept as labels)
    scene: str  # the photograph it came from ("drawn" for a drawn car)
    kind: str  # painted | crop | drawn


def painted(image: np.ndarray, ebikes: tuple[Box, ...], people: tuple[Box, ...], scene: str) -> Background:
    # A person mostly behind the painted-out bike would be a half-smeared person: drop that label.
    kept = tuple(p for p in people if all(overlap_share(p, b) < 0.5 for b in ebikes))
    return Background(paint_out(image, ebikes) if ebikes else image.copy(), kept, scene, "painted")


def cropped(image: np.ndarray, ebikes: tuple[Box, ...], people: tuple[Box, ...], scene: str,
            rng: np.random.Generator, min_visible: float = 0.5) -> Background | None:
    """A crop touching no e-bike box; people cut to less than min_visible of their box are not labelled (and
    the crop is refused if one is, so an unlabelled half-person never teaches "background")."""
    rect = clean_crop(image.shape[:2], ebikes, (1.0, 2.0), rng, min_share=0.3)
    if rect is None:
        return None
    x, y, w, h = rect
    kept = []
    for px1, py1, px2, py2 in people:
        vx1, vy1, vx2, vy2 = max(px1, x), max(py1, y), min(px2, x + w), min(py2, y + h)
        if vx2 <= vx1 or vy2 <= vy1:
            continue
        if (vx2 - vx1) * (vy2 - vy1) < min_visible * (px2 - px1) * (py2 - py1):
            return None
        kept.append((vx1 - x, vy1 - y, vx2 - x, vy2 - y))
    return Background(np.ascontiguousarray(image[y:y + h, x:x + w]), tuple(kept), scene, "crop")


# ---- drawn empty cars ---------------------------------------------------------------------------------------

def _streaks(h: int, w: int, rng: np.random.Generator, vertical: bool) -> np.ndarray:
    """Brushed steel: a grey with fine streaks along one direction."""
    base = rng.uniform(110, 215)
    noise = rng.normal(0, rng.uniform(6, 16), (h, w)).astype(np.float32)
    k = int(rng.integers(15, 60)) | 1
    noise = cv2.blur(noise, (1, k) if vertical else (k, 1))
    sheen = np.linspace(rng.uniform(-30, 10), rng.uniform(-10, 35), w if not vertical else h, dtype=np.float32)
    sheen = sheen[None, :] if not vertical else sheen[:, None]
    grey = np.clip(base + noise * 2.5 + sheen, 0, 255)
    tint = rng.uniform(0.92, 1.08, 3)
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)


# Wall and floor colours of real cars (BGR): beige, wood, cream, greys, a dark stone; cars are rarely loud.
_TONES = np.array([[170, 190, 205], [60, 100, 150], [200, 215, 225], [150, 150, 150], [90, 90, 95],
                   [120, 140, 160], [40, 45, 50], [185, 180, 175]], np.float32)


def _tone(rng: np.random.Generator) -> np.ndarray:
    return np.clip(_TONES[int(rng.integers(len(_TONES)))] * rng.uniform(0.8, 1.15) + rng.normal(0, 8, 3), 0, 255)


def _panels(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Wood, marble or painted panels with seams."""
    colour = _tone(rng)
    wall = np.empty((h, w, 3), np.float32)
    wall[:] = colour
    blobs = cv2.GaussianBlur(rng.normal(0, 25, (h, w)).astype(np.float32), (0, 0), rng.uniform(2, 12))
    wall += blobs[..., None]
    n = int(rng.integers(1, 5))
    for i in range(1, n + 1):
        x = int(i * w / (n + 1))
        cv2.line(wall, (x, 0), (x, h), (colour * 0.5).tolist(), max(1, w // 200))
    return np.clip(wall, 0, 255).astype(np.uint8)


def _floor(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:  # tiles
        tile = int(rng.integers(max(h // 8, 4), max(h // 3, 6)))
        a = _tone(rng)
        b = a * rng.uniform(0.6, 1.0) if rng.random() < 0.7 else _tone(rng)
        yy, xx = np.mgrid[0:h, 0:w]
        checker = ((yy // tile + xx // tile) % 2)[..., None]
        out = np.where(checker, a, b).astype(np.float32)
    elif kind == 1:  # granite
        out = np.full((h, w, 3), rng.uniform(60, 200), np.float32) + rng.normal(0, 18, (h, w, 1))
    else:  # rubber mat or carpet
        out = np.full((h, w, 3), _tone(rng) * 0.5, np.float32) + rng.normal(0, 6, (h, w, 1))
    return np.clip(out, 0, 255).astype(np.uint8)


def _warp_into(canvas: np.ndarray, texture: np.ndarray, quad: np.ndarray) -> None:
    """Paint `texture` into the quadrilateral `quad` (4x2, clockwise from top-left) of `canvas`."""
    h, w = texture.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    warped = cv2.warpPerspective(texture, matrix, (canvas.shape[1], canvas.shape[0]))
    mask = np.zeros(canvas.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, quad.astype(np.int32), 255)
    canvas[mask > 0] = warped[mask > 0]


def _poster(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A notice or an advert: a coloured sheet with a title bar, lines of "text" and a picture block."""
    sheet = np.full((h, w, 3), rng.uniform(150, 255, 3), np.float32)
    cv2.rectangle(sheet, (0, 0), (w, int(h * rng.uniform(0.1, 0.25))), rng.uniform(0, 255, 3).tolist(), -1)
    y = int(h * 0.3)
    while y < h * 0.9:
        cv2.rectangle(sheet, (int(w * 0.08), y), (int(w * rng.uniform(0.4, 0.92)), y + max(h // 40, 1)),
                      rng.uniform(0, 90, 3).tolist(), -1)
        y += max(h // 14, 3)
    if rng.random() < 0.6:
        px, py = int(w * rng.uniform(0.1, 0.5)), int(h * rng.uniform(0.3, 0.6))
        blob = cv2.GaussianBlur(rng.uniform(0, 255, (max(h // 4, 2), max(w // 3, 2), 3)).astype(np.float32),
                                (0, 0), 3)
        sheet[py:py + blob.shape[0], px:px + blob.shape[1]] = blob[:h - py, :w - px]
    return np.clip(sheet, 0, 255).astype(np.uint8)


def drawn_car(hw: tuple[int, int], rng: np.random.Generator) -> Background:
    """An empty car in one-point perspective as a ceiling camera sees it, with its light and its notices."""
    h, w = hw
    canvas = np.zeros((h, w, 3), np.uint8)
    bx1, bx2 = w * rng.uniform(0.15, 0.35), w * rng.uniform(0.65, 0.85)
    by1, by2 = h * rng.uniform(-0.1, 0.15), h * rng.uniform(0.45, 0.7)
    steel = rng.random() < 0.6
    wall = (lambda: _streaks(256, 256, rng, vertical=bool(rng.random() < 0.7))) if steel else \
        (lambda: _panels(256, 256, rng))
    quads = {
        "back": np.array([[bx1, by1], [bx2, by1], [bx2, by2], [bx1, by2]]),
        "left": np.array([[0, -h * 0.2], [bx1, by1], [bx1, by2], [0, h * 1.1]]),
        "right": np.array([[bx2, by1], [w, -h * 0.2], [w, h * 1.1], [bx2, by2]]),
        "floor": np.array([[bx1, by2], [bx2, by2], [w * 1.3, h], [-w * 0.3, h]]),
    }
    for name, quad in quads.items():
        _warp_into(canvas, _floor(256, 256, rng) if name == "floor" else wall(), quad)
    if rng.random() < 0.7:  # the door: a seam down the middle of the back wall, or the front doors' edges
        seam = int(rng.uniform(bx1, bx2))
        cv2.line(canvas, (seam, int(max(by1, 0))), (seam, int(by2)), (30, 30, 30), max(1, w // 300))
    if rng.random() < 0.8:  # the button panel on a side wall
        side_x = int(w * rng.uniform(0.02, 0.1)) if rng.random() < 0.5 else int(w * rng.uniform(0.88, 0.95))
        py = int(h * rng.uniform(0.2, 0.4))
        pw, ph = max(w // 30, 6), max(h // 5, 12)
        cv2.rectangle(canvas, (side_x, py), (side_x + pw, py + ph), rng.uniform(10, 80, 3).tolist(), -1)
        for k in range(int(rng.integers(3, 9))):
            cy = py + int((k + 0.5) * ph / 9)
            cv2.circle(canvas, (side_x + pw // 2, cy), max(pw // 4, 1), rng.uniform(150, 255, 3).tolist(), -1)
    for _ in range(int(rng.integers(0, 4))):  # notices and adverts on the walls
        ph, pw = int(h * rng.uniform(0.12, 0.3)), int(w * rng.uniform(0.07, 0.18))
        px, py = int(rng.uniform(0, w - pw)), int(rng.uniform(0, max(by2 - ph, 1)))
        canvas[py:py + ph, px:px + pw] = _poster(rng, ph, pw)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * rng.uniform(0.3, 0.7), h * rng.uniform(-0.2, 0.3)
    light = 1.25 - rng.uniform(0.3, 0.8) * np.sqrt(((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2)
    lit = np.clip(canvas.astype(np.float32) * light[..., None], 0, 255).astype(np.uint8)
    return Background(lit, (), "drawn", "drawn")
