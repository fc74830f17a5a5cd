"""Cut-outs: one labelled object's pixels with a rough alpha mask, for cut, paste and learn.

The mask comes from GrabCut seeded with the labelled box (its inside "probably object", a margin around it
"background"); where GrabCut keeps too little of the box (a dark bike on a dark floor) an ellipse inside the
box stands in, which is rough but what the recipe asks for. Catalogue photos on a white background (the
wheelchairs) are cut by their distance from white instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels

MIN_KEPT = 0.2  # GrabCut kept less than this share of the box: fall back to the ellipse
MIN_SIDE = 24  # boxes smaller than this (pixels) are too small to paste at any useful scale
GRABCUT_SIDE = 256  # GrabCut runs on the region shrunk to this (its cost grows with the pixels; a mask is rough)


@dataclass(frozen=True)
class Cutout:
    rgba: np.ndarray  # (h, w, 4) uint8, BGR + alpha; the object fills the array (its labelled box)
    label: str  # ebike | person | wheelchair
    scene: str  # the photograph it was cut from

    @property
    def hw(self) -> tuple[int, int]:
        return self.rgba.shape[0], self.rgba.shape[1]


def _ellipse(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (max(w // 2 - 1, 1), max(h // 2 - 1, 1)), 0, 0, 360, 255, -1)
    return mask


def _largest_parts(mask: np.ndarray, keep_share: float = 0.1) -> np.ndarray:
    """The connected parts of the mask that hold at least keep_share of the largest one (a bike is one piece;
    a few specks of background are not)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = [i + 1 for i, a in enumerate(areas) if a >= keep_share * areas.max()]
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)


def _feather(mask: np.ndarray) -> np.ndarray:
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return cv2.GaussianBlur(closed, (3, 3), 0)


def grabcut_box(image: np.ndarray, box: Box, *, margin: float = 0.08, iterations: int = 4) -> np.ndarray:
    """A 0-255 mask of the box's pixels (shape of the box) that GrabCut takes for the object."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    bw, bh = x2 - x1, y2 - y1
    mx, my = int(bw * margin) + 2, int(bh * margin) + 2
    px1, py1, px2, py2 = max(x1 - mx, 0), max(y1 - my, 0), min(x2 + mx, w), min(y2 + my, h)
    region = np.ascontiguousarray(image[py1:py2, px1:px2])
    shrink = min(1.0, GRABCUT_SIDE / max(region.shape[:2]))
    small = cv2.resize(region, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA) if shrink < 1 else region
    rect = (int((x1 - px1) * shrink), int((y1 - py1) * shrink), max(int(bw * shrink), 1), max(int(bh * shrink), 1))
    mask = np.zeros(small.shape[:2], np.uint8)
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global generator: the same cut every time
    try:
        cv2.grabCut(small, mask, rect, np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64),
                    iterations, cv2.GC_INIT_WITH_RECT)
        fg = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    except cv2.error:  # a box of a few pixels, a flat region: no model to fit
        fg = np.zeros(small.shape[:2], np.uint8)
    if shrink < 1:
        fg = cv2.resize(fg, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_NEAREST)
    fg = fg[y1 - py1:y1 - py1 + bh, x1 - px1:x1 - px1 + bw]
    fg = _largest_parts(fg)
    if fg.mean() / 255 < MIN_KEPT:
        fg = _ellipse(bh, bw)
    return _feather(fg)


def cut_box(image: np.ndarray, box: Box, label: str, scene: str) -> Cutout | None:
    """The object in `box` as a cut-out; None when the box is too small to be worth pasting."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(int(round(box[0])), 0), max(int(round(box[1])), 0), min(int(round(box[2])), w), \
        min(int(round(box[3])), h)
    if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
        return None
    alpha = grabcut_box(image, (x1, y1, x2, y2))
    return Cutout(np.dstack([image[y1:y2, x1:x2], alpha]), label, scene)


def is_white_background(image: np.ndarray, border: int = 6, level: float = 225.0) -> bool:
    """A catalogue photo: the frame's border is (nearly) white."""
    edges = np.concatenate([image[:border].reshape(-1, 3), image[-border:].reshape(-1, 3),
                            image[:, :border].reshape(-1, 3), image[:, -border:].reshape(-1, 3)])
    return float(np.median(edges.min(axis=1))) >= level


def cut_product_photo(image: np.ndarray, label: str, scene: str, *, white_distance: int = 28) -> Cutout | None:
    """The object of a photo on a white background, cropped to its extent; None for other photos."""
    if not is_white_background(image):
        return None
    distance = 255 - image.min(axis=2).astype(np.int16)
    mask = _largest_parts(np.where(distance > white_distance, 255, 0).astype(np.uint8), keep_share=0.02)
    ys, xs = np.nonzero(mask)
    if len(xs) < 400:
        return None
    x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
        return None
    # Fill the holes between spokes and frame tubes only where they are enclosed: a wheelchair is see-through.
    alpha = _feather(mask[y1:y2, x1:x2])
    return Cutout(np.dstack([image[y1:y2, x1:x2], alpha]), label, scene)


def overlap_share(a: Box, b: Box) -> float:
    """The share of box a that box b covers."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    area = (a[2] - a[0]) * (a[3] - a[1])
    return max(w, 0) * max(h, 0) / area if area > 0 else 0.0
