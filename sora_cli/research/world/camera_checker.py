"""Judges a clip's camera and cuts from its pixels, as the checker judges its objects.

The camera is read from the world's marks alone (docs/world.md, "Camera and cuts"): their
column and row profiles, frame to frame, give a zoom about the frame's centre and a shift.
Chained over a shot they map every frame back onto the shot's first frame, where objects
are judged as in a clip without a camera. A cut is one frame that changes far more than
the frames around it; either side of it is a shot, judged on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sora_cli.research.world import checker
from sora_cli.research.world.camera import MARK_SPACING, mark_colour
from sora_cli.research.world.scene import Scene, Thing
from sora_cli.research.world.vocab import BACKGROUNDS, OBJECT_COLOURS, luma

# Frame-to-frame zooms and shifts tried: zooms of up to 5%, and shifts of up to 0.45 of the marks'
# spacing on screen (further, a lattice cannot tell a shift from one the other way).
ZOOMS = np.exp(np.linspace(-0.05, 0.05, 41))
SHIFTS = np.linspace(-1.0, 1.0, 81)  # in units of 0.45 x the spacing
MOVED = 0.2  # S: the marks moved at least this far (a pan moves them 0.5 S in 2 s)
ZOOMED = 1.4  # a zoom in reaches 2.25x in 2 s; 1.5x in 1 s
# MOVED and ZOOMED are for clips of 2 s or more; a shorter shot needs the same share of the world's move over its
# length (a 1 s storyboard shot: 0.1 S, x1.18), else a pan at 80% of the world's speed would read as still there.
JUDGED_FRAMES = 48
STEADY = 0.1  # S: a followed object's centre stays within this in the frame
# Motions that a shot of about a second does not tell apart (they are defined over 2 s): in a
# clip with a cut they are judged by motion_kept only.
WHOLE_CLIP = ("grows", "shrinks", "falls", "bounces", "circles")
SMALLEST_SHAPE = 64  # pixels: a smaller object's shape is not judged after a cut (a wide shot makes objects tiny)
CUT_RATIO, CUT_LEVEL = 2.0, 1.0  # a cut's residual: this many times its neighbours', and this many levels


@dataclass
class CameraPath:
    """p_t = zoom_t (p_0 - centre) + centre + shift_t: where a point of the shot's first frame is at frame t."""

    zoom: np.ndarray  # (T,)
    shift: np.ndarray  # (T, 2) pixels, x and y
    centre: tuple[float, float]

    def to_first(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cx, cy = self.centre
        return (x - cx - self.shift[:, 0]) / self.zoom + cx, (y - cy - self.shift[:, 1]) / self.zoom + cy


def markness(frames: np.ndarray, background: str, bw: bool) -> np.ndarray:
    """(T, H, W) in [0, 1]: how much of each pixel is mark (0 on background and on objects), over the level of
    the frame's most common pixel (its background)."""
    bg = np.array(BACKGROUNDS[background], np.float32)
    mark = np.array(mark_colour(BACKGROUNDS[background]), np.float32)
    if bw:
        bg, mark = np.full(3, luma(tuple(bg)), np.float32), np.full(3, luma(tuple(mark)), np.float32)
    step = mark - bg
    d = frames.astype(np.float32) - bg
    along = (d @ step) / float(step @ step)
    off_line = np.sqrt(np.maximum((d * d).sum(-1) - along**2 * float(step @ step), 0))
    m = np.where((off_line < 20) & (along < 1.3), np.clip(along, 0, 1), 0.0)
    # Over the frame's own background level: a background drawn a level or two off its colour (a model's) is no
    # faint mark everywhere, which would pass for marks and give a clip without any a camera.
    return np.clip(m - np.median(m.reshape(len(m), -1), axis=1)[:, None, None], 0, 1)


def _resample(profile: np.ndarray, zooms: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """profile (N,) seen after zooming about its centre and shifting: (Z, S, N) values and validity."""
    n = len(profile)
    c = n / 2
    x = np.arange(n) + 0.5
    src = c + (x[None, None] - c - shifts[None, :, None]) / zooms[:, None, None] - 0.5
    valid = (src >= 0) & (src <= n - 1)
    lo = np.clip(np.floor(src).astype(int), 0, n - 2)
    w = np.clip(src - lo, 0, 1)
    return profile[lo] * (1 - w) + profile[lo + 1] * w, valid


def _errors(prev: np.ndarray, cur: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """(Z, S) mean squared difference between cur and prev zoomed and shifted."""
    moved, valid = _resample(prev, ZOOMS, shifts)
    diff = np.where(valid, moved - cur[None, None], 0.0)
    return (diff**2).sum(-1) / np.maximum(valid.sum(-1), 1)


def camera_steps(frames: np.ndarray, background: str, bw: bool) -> np.ndarray:
    """(T - 1, 3): the zoom and x, y shift (pixels) that best carry each frame's marks onto the next.
    Without marks (a clip of the world without a camera) every step is the identity."""
    t, h, w, _ = frames.shape
    m = markness(frames, background, bw)
    cols, rows = m.sum(axis=1), m.sum(axis=2)
    steps = np.tile([1.0, 0.0, 0.0], (t - 1, 1))
    zoom = 1.0
    for i in range(1, t):
        shifts = SHIFTS * 0.45 * MARK_SPACING * min(h, w) * max(zoom, 0.3)
        if m[i - 1].sum() < 0.01 * h * w or m[i].sum() < 0.01 * h * w:
            continue
        ex, ey = _errors(cols[i - 1], cols[i], shifts), _errors(rows[i - 1], rows[i], shifts)
        both = ex.min(1) + ey.min(1)
        best = both.argmin()  # one zoom for both axes, each its own shift
        steps[i - 1] = (np.exp(_refined(np.log(ZOOMS), both)), _refined(shifts, ex[best]), _refined(shifts, ey[best]))
        zoom *= steps[i - 1, 0]
    return steps


def _refined(grid: np.ndarray, error: np.ndarray) -> float:
    """The grid's best value, moved to the vertex of the parabola through it and its neighbours
    (chained over 48 frames, a grid step's bias would add up to several pixels)."""
    k = int(error.argmin())
    if 0 < k < len(grid) - 1:
        curve = error[k - 1] - 2 * error[k] + error[k + 1]
        if curve > 0:
            return float(grid[k] + 0.5 * (error[k - 1] - error[k + 1]) / curve * (grid[1] - grid[0]))
    return float(grid[k])


def camera_path(frames: np.ndarray, background: str, bw: bool) -> CameraPath:
    """The camera over a shot: its steps chained from the first frame."""
    t, h, w, _ = frames.shape
    zoom, shift = np.ones(t), np.zeros((t, 2))
    for i, (r, sx, sy) in enumerate(camera_steps(frames, background, bw), 1):
        zoom[i] = zoom[i - 1] * r
        shift[i] = r * shift[i - 1] + (sx, sy)
    return CameraPath(zoom, shift, (w / 2, h / 2))


def camera_move(path: CameraPath, target: checker.Track | None, s: float) -> str:
    """still, pan left/right, zoom in/out or follow, from the marks and the target's place in the frame."""
    share = min(1.0, len(path.zoom) / JUDGED_FRAMES)
    moved, zoomed = MOVED * share, ZOOMED**share
    if path.zoom[-1] >= zoomed:
        return "zoom in"
    if path.zoom[-1] <= 1 / zoomed:
        return "zoom out"
    extent = np.ptp(path.shift, axis=0) / s
    if extent.max() < moved:
        return "still"
    if target is not None:
        seen = target.area > 0
        if seen.mean() > 0.9 and max(np.ptp(target.x[seen]), np.ptp(target.y[seen])) / s < STEADY:
            return "follow"
    dx, dy = path.shift[-1] / s
    if abs(dx) >= moved and abs(dy) < moved / 2:
        return "pan left" if dx > 0 else "pan right"  # the camera goes left: the world goes right
    return "unclear"


def cuts(frames: np.ndarray) -> list[int]:
    """Frames that begin a new shot: what no camera step explains. Each frame is predicted from
    the one before, moved by the camera's step (camera_steps); a cut leaves a residual far above
    those of the frames around it, however fast the camera moves."""
    t, h, w, _ = frames.shape
    bw = checker.is_bw(frames)
    name, _ = checker.background(frames, bw)
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    f = frames.astype(np.float32)
    residual = np.zeros(t - 1)
    for i, (r, sx, sy) in enumerate(camera_steps(frames, name, bw)):
        src_x = np.floor((xs - w / 2 - sx) / r + w / 2).astype(int)
        src_y = np.floor((ys - h / 2 - sy) / r + h / 2).astype(int)
        valid = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
        moved = f[i][np.clip(src_y, 0, h - 1), np.clip(src_x, 0, w - 1)]
        residual[i] = np.abs(moved - f[i + 1])[valid].mean()
    found = []
    for i, c in enumerate(residual):  # against the frames either side: a shot may move more than another
        around = [np.median(part) for part in (residual[max(0, i - 3):i], residual[i + 1:i + 4]) if len(part)]
        if c > max(CUT_RATIO * max(around, default=0.0), CUT_LEVEL):
            found.append(i + 1)
    return found


def check(frames: np.ndarray, scene: Scene, fps: float = 24.0) -> dict[str, bool]:
    """Each stated attribute of a scene with a camera -> whether the pixels show it.

    Objects are judged in the coordinates of each shot's first frame. A cut adds: `cut` (one
    cut, within two frames of when it was said), `identity` (the objects after the cut have the
    colours and shapes said), `framing` (a close-up at least 2.5x the target's area, or a wide
    shot at most 0.6x every object's) and `after_motion` (the target still moves as said).
    """
    camera = scene.camera
    _, h, w, _ = frames.shape
    s = min(h, w)
    bw = checker.is_bw(frames)
    bg_name, bg = checker.background(frames, bw)
    plain = replace(scene, camera=None)
    if camera.cut_at is None:
        path = camera_path(frames, bg_name, bw)
        result = checker.check(frames, plain, fps, lambda tr: in_first_frame(tr, path))
        target = scene.things[camera.target]
        seen = checker.track(checker.object_mask(frames, bg, OBJECT_COLOURS[target.colour], bw))
        result["camera"] = camera_move(path, seen, s) == camera.move
        return result
    found = cuts(frames)
    at = round(camera.cut_at * fps)
    result = {"cut": len(found) == 1 and abs(found[0] - at) <= 2}
    split = found[0] if len(found) == 1 else at
    before, after = frames[:split], frames[split:]
    result |= checker.check(before, plain, fps)
    for i, thing in enumerate(scene.things):
        if thing.motion in WHOLE_CLIP:
            del result[(f"{i}." if len(scene.things) > 1 else "") + "motion"]
    return result | _after_cut(before, after, scene, bg, bw, camera_path(after, bg_name, bw))


def in_first_frame(tr: checker.Track, path: CameraPath) -> checker.Track:
    """An object's track moved into the coordinates of its shot's first frame (the camera undone)."""
    x, y = path.to_first(tr.x, tr.y)
    _, bottom = path.to_first(tr.x, tr.bottom)
    area = tr.area / path.zoom**2
    return replace(tr, x=x, y=y, bottom=bottom, area=area,
                   clear_area=(tr.clear_area[0] / path.zoom[0] ** 2, tr.clear_area[1] / path.zoom[-1] ** 2))


def _after_cut(before: np.ndarray, after: np.ndarray, scene: Scene, bg: np.ndarray, bw: bool,
               path: CameraPath) -> dict[str, bool]:
    camera = scene.camera
    s = min(after.shape[1:3])
    shown = [camera.target] if camera.cut_to == "close" else range(len(scene.things))
    identity, framing, kept = True, True, True
    for i in shown:
        thing = scene.things[i]
        colour = OBJECT_COLOURS[thing.colour]
        old = checker.track(checker.object_mask(before, bg, colour, bw))
        new = checker.track(checker.object_mask(after, bg, colour, bw))
        identity &= is_the_same(new, thing)
        if old is None or new is None:
            framing = kept = False
            continue
        ratio = new.area[0] / max(old.area[-1], 1)
        framing &= ratio >= 2.5 if camera.cut_to == "close" else ratio <= 0.6
        kept &= _same_motion(old, in_first_frame(new, path), s)
    return {"identity": bool(identity), "framing": bool(framing), "motion_kept": bool(kept)}


def is_the_same(tr: checker.Track | None, thing: Thing) -> bool:
    """A track (of the thing's colour) after a cut is the thing: found, and of its shape where it
    is big enough for a shape to be told."""
    return tr is not None and (tr.area.max() < SMALLEST_SHAPE or checker.shape_of(tr.ratio) == thing.shape)


def _same_motion(old: checker.Track, new: checker.Track, s: float, frames: int = 6) -> bool:
    """The object moves the same way either side of the cut: its velocity over the last frames
    before and the first after point the same way (directions do not depend on the framing), or
    it is still on both sides."""
    v_old = np.array([old.x[-1] - old.x[-frames], old.y[-1] - old.y[-frames]])
    v_new = np.array([new.x[frames - 1] - new.x[0], new.y[frames - 1] - new.y[0]])
    still = 0.01 * s
    if np.linalg.norm(v_old) < still:
        return np.linalg.norm(v_new) < 2.5 * still  # the close-up doubles apparent speeds
    return float(v_old @ v_new) > 0.7 * np.linalg.norm(v_old) * np.linalg.norm(v_new)
