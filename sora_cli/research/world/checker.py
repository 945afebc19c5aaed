"""An independent checker of the world spec: judges a clip from its pixels alone.

It knows the spec's palette and its rules (thirds, sizes, motions) but nothing of the
renderer: backgrounds are the border's most common colour, objects are pixels near an
object colour and far from the background, shapes come from a rotation-free ratio
(area / max-radius^2: circle pi, square 2, triangle ~1.1), motions from centroid and
area tracks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sora_cli.research.world.camera import mark_colour
from sora_cli.research.world.scene import Scene
from sora_cli.research.world.vocab import BACKGROUNDS, OBJECT_COLOURS, SIZES, luma

SHAPE_RATIO = {"circle": math.pi, "square": 2.0, "triangle": 1.125}
SIZE_FROM_AREA = {"circle": lambda a: math.sqrt(4 * a / math.pi), "square": math.sqrt,
                  "triangle": lambda a: math.sqrt(2 * a)}


@dataclass
class Track:
    area: np.ndarray  # (T,) pixels
    x: np.ndarray  # (T,) centroid, pixels
    y: np.ndarray
    ratio: float  # area / r_max^2 on the first clear frame
    rotating: bool
    bottom: np.ndarray  # (T,) lowest pixel row of the object
    clear_area: tuple[float, float]  # area on the first and last frames where it is wholly in view


def _nearest(colour: np.ndarray, palette: dict[str, tuple[int, int, int]], grey: bool) -> str:
    names = list(palette)
    ref = np.array([palette[n] for n in names], dtype=np.float64)
    if grey:
        ref = np.array([[luma(palette[n])] * 3 for n in names])
    return names[int(np.argmin(((ref - colour) ** 2).sum(axis=1)))]


def is_bw(frames: np.ndarray) -> bool:
    """No colour anywhere: judged on the background and, apart, on the objects (they may be tiny).
    A camera's marks are part of the background, not objects."""
    spread = frames.max(axis=-1).astype(int) - frames.min(axis=-1).astype(int)
    name, bg = background(frames, grey=False)
    f = frames.astype(np.float32)
    mark = np.array(mark_colour(BACKGROUNDS[name]), np.float32)
    off = (np.sqrt(((f - bg) ** 2).sum(-1)) > 30) & (np.sqrt(((f - mark) ** 2).sum(-1)) > 30)
    objects = spread[off] if off.sum() > 8 else spread.ravel()
    return float(np.percentile(spread, 90)) < 24 and float(np.percentile(objects, 90)) < 24


def background(frames: np.ndarray, grey: bool) -> tuple[str, np.ndarray]:
    border = np.concatenate([frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]], axis=1).reshape(-1, 3)
    colour = np.median(border, axis=0)
    return _nearest(colour, BACKGROUNDS, grey), colour


def object_mask(frames: np.ndarray, bg: np.ndarray, colour: tuple[int, int, int], bw: bool) -> np.ndarray:
    """(T, H, W) pixels that belong to an object of `colour` (its grey level when bw)."""
    f = frames.astype(np.float32)
    target = np.array([luma(colour)] * 3 if bw else colour, dtype=np.float32)
    off_bg = np.sqrt(((f - bg) ** 2).sum(-1)) > 0.5 * np.sqrt(((target - bg) ** 2).sum())
    near = np.sqrt(((f - target) ** 2).sum(-1)) < 70
    if bw:
        return off_bg & near
    others = [np.array(c, np.float32) for c in OBJECT_COLOURS.values() if tuple(c) != tuple(colour)]
    closest = np.sqrt(((f - target) ** 2).sum(-1))
    for other in others:  # the pixel is nearer this colour than any other object colour
        near &= closest <= np.sqrt(((f - other) ** 2).sum(-1))
    return off_bg & near


def track(mask: np.ndarray, scale_free: bool = False) -> Track | None:
    """scale_free: a shape that only changes size (under a zoom) is not taken for a turning one."""
    t, h, w = mask.shape
    ys, xs = np.mgrid[0:h, 0:w]
    area = mask.sum(axis=(1, 2)).astype(np.float64)
    if area[0] < 4 or (area > 0).mean() < 0.5:
        return None
    safe = np.maximum(area, 1)
    x = (mask * xs).sum(axis=(1, 2)) / safe
    y = (mask * ys).sum(axis=(1, 2)) / safe
    bottom = np.array([ys[m].max() if m.any() else 0 for m in mask], dtype=np.float64)
    ratio, rotating, clear_area = float("nan"), False, (area[0], area[-1])
    clear = [i for i in range(t) if area[i] > 4 and not (mask[i, 0].any() or mask[i, -1].any()
                                                         or mask[i, :, 0].any() or mask[i, :, -1].any())]
    if clear:
        i = clear[0]
        # +0.5: from the centre of the farthest pixel to its outer edge
        r = np.sqrt(((xs[mask[i]] - x[i]) ** 2 + (ys[mask[i]] - y[i]) ** 2).max()) + 0.5
        ratio = float(area[i] / r**2)
        rotating = _rotating(mask, x, y, area if scale_free else None, clear)
        clear_area = (area[clear[0]], area[clear[-1]])
    return Track(area, x, y, ratio, rotating, bottom, clear_area)


def _rotating(mask: np.ndarray, x: np.ndarray, y: np.ndarray, area: np.ndarray | None, clear: list[int]) -> bool:
    """Does the shape turn? Compare frames after moving them onto the first one's centroid (and,
    given the areas, scaling them to its size)."""
    first = clear[0]
    scores = []
    h, w = mask.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w]
    for i in clear[len(clear) // 4::max(1, len(clear) // 4)]:
        if area is None:
            shifted = np.roll(mask[i], (round(y[first] - y[i]), round(x[first] - x[i])), axis=(0, 1))
        else:
            k = math.sqrt(area[i] / area[first])
            sx = np.clip(np.round(x[i] + (xs - x[first]) * k).astype(int), 0, w - 1)
            sy = np.clip(np.round(y[i] + (ys - y[first]) * k).astype(int), 0, h - 1)
            shifted = mask[i][sy, sx]
        inter, union = (shifted & mask[first]).sum(), (shifted | mask[first]).sum()
        scores.append(inter / max(union, 1))
    return bool(scores) and min(scores) < 0.8


def motion(tr: Track, s: float, fps: float, height: int, width: int) -> str:
    seen = np.flatnonzero(tr.area > 0)
    first, last = seen[0], seen[-1]  # an object that leaves the frame is judged while in view
    t = last - first + 1
    dx, dy = (tr.x[last] - tr.x[first]) / s, (tr.y[last] - tr.y[first]) / s
    ratio = tr.clear_area[1] / max(tr.clear_area[0], 1)
    if ratio >= 1.8:
        return "grows"
    if ratio <= 0.55:
        return "shrinks"
    xs, ys = tr.x[first:last + 1], tr.y[first:last + 1]
    xr, yr = np.ptp(xs) / s, np.ptp(ys) / s
    radius = np.hypot(xs - width / 2, ys - height / 2) / s
    if xr > 0.25 and yr > 0.25 and radius.std() < 0.3 * radius.mean():
        return "circles"
    vy = np.diff(ys)
    went_up, went_down = (vy < -0.002 * s).sum(), (vy > 0.002 * s).sum()
    near_bottom = (height - 1 - tr.bottom.max()) / s < 0.06
    if yr > 0.12 and went_up > t // 8 and went_down > t // 8 and near_bottom:
        return "bounces"
    if abs(dy) > 0.15 and abs(dy) > abs(dx):
        if dy > 0:
            half = t // 2
            early, late = ys[half] - ys[0], ys[-1] - ys[half]
            return "falls" if late > 1.3 * max(early, 1e-6) else "down"
        return "up"
    if abs(dx) > 0.15:
        return "right" if dx > 0 else "left"
    if math.hypot(dx, dy) < 0.02 * max(1.0, t / fps / 2) * 2.5:
        return "spins" if tr.rotating else "still"
    return "unclear"


def matches_motion(expected: str, got: str, shape: str) -> bool:
    if expected == "rises":
        expected = "up"
    if expected == "spins" and shape == "circle":  # a spinning disc looks still
        return got in ("spins", "still")
    return expected == got


def shape_of(ratio: float) -> str:
    return min(SHAPE_RATIO, key=lambda k: abs(math.log(ratio / SHAPE_RATIO[k]))) if ratio == ratio else "unknown"


def size_of(tr: Track, shape: str, s: float) -> str:
    side = SIZE_FROM_AREA.get(shape, math.sqrt)(tr.area[0]) / s
    return min(SIZES, key=lambda k: abs(math.log(max(side, 1e-6) / SIZES[k])))


def layout_of(tr: Track, width: int, height: int) -> set[str]:
    fx, fy = tr.x[0] / width, tr.y[0] / height
    where = set()
    where.add("left" if fx < 1 / 3 else "right" if fx > 2 / 3 else "mid_x")
    where.add("top" if fy < 1 / 3 else "bottom" if fy > 2 / 3 else "mid_y")
    if "mid_x" in where and "mid_y" in where:
        where.add("center")
    return where


def check(frames: np.ndarray, scene: Scene, fps: float = 24.0,
          to_first: Callable[[Track], Track] | None = None) -> dict[str, bool]:
    """Each stated attribute of the scene -> whether the pixels show it. `to_first` undoes a
    camera: it moves a track into the first frame's coordinates (camera_checker.py)."""
    _, h, w, _ = frames.shape
    s = min(h, w)
    bw = is_bw(frames)
    bg_name, bg = background(frames, bw)
    got_bg = bg_name == scene.background or (bw and abs(luma(BACKGROUNDS[bg_name]) - luma(BACKGROUNDS[scene.background])) < 20)
    result = {"background": got_bg}
    if scene.bw:
        result["bw"] = bw
    for i, thing in enumerate(scene.things):
        key = f"{i}." if len(scene.things) > 1 else ""
        tr = track(object_mask(frames, bg, OBJECT_COLOURS[thing.colour], bw), scale_free=to_first is not None)
        if tr is not None and to_first is not None:
            tr = to_first(tr)
        if not scene.bw:
            result[key + "colour"] = tr is not None
        shape = shape_of(tr.ratio) if tr else "none"
        result[key + "shape"] = shape == thing.shape
        if scene.size_said[i]:
            result[key + "size"] = tr is not None and size_of(tr, thing.shape, s) == thing.size
        result[key + "motion"] = tr is not None and matches_motion(thing.motion, motion(tr, s, fps, h, w), thing.shape)
        if thing.layout:
            result[key + "position"] = tr is not None and thing.layout in layout_of(tr, w, h)
    return result


def binding(result: dict[str, bool], scene: Scene) -> bool | None:
    """Two objects: each colour is where it was said to be and moves as it was said to."""
    if len(scene.things) < 2:
        return None
    keys = [k for k in result if k[:2] in ("0.", "1.") and k.split(".")[1] in ("colour", "motion", "position")]
    return all(result[k] for k in keys)
