"""Paste a cut-out into a background as a camera would have seen it, and what the camera then does to the frame.

Per object: a size (a share of the frame's height), a place whose foot point is on the floor (the lower part of
the frame), a mirror, a mild perspective tilt, its light pulled toward the background's, a little blur.
Per frame: gain and gamma, a colour cast, sometimes the grey of a night (infrared) camera, sensor noise,
blur, and a JPEG quality anywhere from a cheap camera's to a good one's.
The label of a pasted object is the box of its mask as pasted (the full extent, occluded or not: how the
real sets are labelled).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.training.synth.cutouts import Box


@dataclass(frozen=True)
class Placement:
    height_share: tuple[float, float]  # the object's height over the frame's
    foot_y: tuple[float, float] = (0.6, 1.0)  # where its bottom stands, as a share of the frame's height
    max_tilt: float = 0.08  # perspective: corners move up to this share of the object's size


EBIKE_PLACEMENT = Placement((0.3, 0.85))
PERSON_PLACEMENT = Placement((0.45, 1.0), foot_y=(0.7, 1.05))
PROP_PLACEMENT = Placement((0.2, 0.6))


def _tilt(rgba: np.ndarray, rng: np.random.Generator, max_tilt: float) -> np.ndarray:
    h, w = rgba.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-max_tilt, max_tilt, (4, 2)) * np.float32([w, h])
    dst = src + jitter.astype(np.float32)
    dst -= dst.min(axis=0)
    out_w, out_h = int(np.ceil(dst[:, 0].max())), int(np.ceil(dst[:, 1].max()))
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(rgba, matrix, (max(out_w, 2), max(out_h, 2)), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def _match_light(obj: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move the object's mean brightness part of the way to the background's, so it is lit by the same lamp."""
    pull = rng.uniform(0.2, 0.6)
    target = float(region.mean()) if region.size else float(obj.mean())
    gain = 1.0 + pull * (target / max(float(obj.mean()), 1.0) - 1.0)
    return np.clip(obj.astype(np.float32) * np.clip(gain, 0.5, 1.8), 0, 255).astype(np.uint8)


def paste(canvas: np.ndarray, rgba: np.ndarray, rng: np.random.Generator, placement: Placement,
          *, anchor: tuple[float, float, float] | None = None) -> Box | None:
    """Paste `rgba` into `canvas` (in place); returns the pixel box of what shows, None if too little fits.
    `anchor` (foot x, foot y, height in pixels) places it by another object (a rider by the bike)."""
    h, w = canvas.shape[:2]
    if rng.random() < 0.5:
        rgba = cv2.flip(rgba, 1)
    rgba = _tilt(rgba, rng, placement.max_tilt)
    target_h = anchor[2] if anchor else rng.uniform(*placement.height_share) * h
    scale = target_h / rgba.shape[0]
    if rgba.shape[1] * scale > 0.95 * w:
        scale = 0.95 * w / rgba.shape[1]
    ow, oh = max(int(rgba.shape[1] * scale), 2), max(int(rgba.shape[0] * scale), 2)
    rgba = cv2.resize(rgba, (ow, oh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    foot = anchor[1] if anchor else rng.uniform(*placement.foot_y) * h
    y1 = int(foot - oh)
    x1 = int(anchor[0] - ow / 2) if anchor else int(rng.uniform(0, max(w - ow, 0)))
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x1 + ow, w), min(y1 + oh, h)
    if cx2 - cx1 < 0.6 * ow or cy2 - cy1 < 0.6 * oh:  # mostly outside the frame: not a useful label
        return None
    piece = rgba[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
    region = canvas[cy1:cy2, cx1:cx2]
    colour = _match_light(piece[..., :3], region, rng)
    if rng.random() < 0.3:
        colour = cv2.GaussianBlur(colour, (0, 0), rng.uniform(0.5, 1.5))
    alpha = piece[..., 3:].astype(np.float32) / 255.0
    region[:] = (colour * alpha + region * (1 - alpha)).astype(np.uint8)
    ys, xs = np.nonzero(piece[..., 3] > 127)
    if len(xs) == 0:
        return None
    return (float(cx1 + xs.min()), float(cy1 + ys.min()), float(cx1 + xs.max() + 1), float(cy1 + ys.max() + 1))


def camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a cheap elevator camera does to a scene: light, colour, night mode, noise, blur."""
    out = image.astype(np.float32)
    out = out * rng.uniform(0.6, 1.3) + rng.uniform(-25, 25)
    out = 255.0 * np.power(np.clip(out, 0, 255) / 255.0, rng.uniform(0.7, 1.4))
    if rng.random() < 0.15:  # infrared night picture
        grey = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        out = np.repeat(grey[..., None], 3, axis=2)
    else:
        out *= rng.uniform(0.88, 1.12, 3)
    out += rng.normal(0, rng.uniform(0, 9), out.shape[:2])[..., None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.35:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.6))
    elif rng.random() < 0.15:  # motion: a bike being pushed, a camera on a shaking car
        k = int(rng.integers(3, 9))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        out = cv2.filter2D(out, -1, kernel)
    return out


def jpeg(image: np.ndarray, rng: np.random.Generator, quality: tuple[int, int] = (35, 95)) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(*quality))])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def fit_frame(image: np.ndarray, boxes: list[Box], hw: tuple[int, int]) -> tuple[np.ndarray, list[Box]]:
    """Resize to (h, w), boxes with it (a background's own aspect is stretched mildly: cameras differ)."""
    h, w = image.shape[:2]
    sy, sx = hw[0] / h, hw[1] / w
    resized = cv2.resize(image, (hw[1], hw[0]), interpolation=cv2.INTER_AREA if sx * sy < 1 else cv2.INTER_LINEAR)
    return resized, [(x1 * sx, y1 * sy, x2 * sx, y2 * sy) for x1, y1, x2, y2 in boxes]


def yolo_rows(rows: list[tuple[int, Box]], hw: tuple[int, int]) -> str:
    h, w = hw
    lines = []
    for cls, (x1, y1, x2, y2) in rows:
        x1, x2 = max(x1, 0.0), min(x2, float(w))
        y1, y2 = max(y1, 0.0), min(y2, float(h))
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        lines.append(f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return "".join(line + "\n" for line in lines)
