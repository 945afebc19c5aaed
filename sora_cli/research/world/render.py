"""The world's renderer: flat shapes on a flat background, anti-aliased, any size, 24 fps.

Each shape is a signed distance field; a pixel's coverage is clamp(0.5 - distance, 0, 1),
which anti-aliases edges over one pixel. Vectorised over frames with torch, so a 2 s
clip at the working size renders in milliseconds: training renders on the fly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sora_cli.research.world.camera import mark_colour, mark_distance, view
from sora_cli.research.world.scene import Scene, Thing
from sora_cli.research.world.vocab import BACKGROUNDS, FPS, OBJECT_COLOURS, SIZES, SPEED

GRAVITY = 0.45  # S per second^2 for "falls"
BOUNCE_PERIOD, BOUNCE_HEIGHT = 0.9, 0.35  # seconds, S
ORBIT_RADIUS, ORBIT_SPEED = 0.25, math.pi  # S, radians per second: one loop in 2 s
SPIN_SPEED = 1.2  # radians per second
GROW_PER_SECOND = 3 ** 0.25  # side grows by this each second: area x3 over 2 s


def track(thing: Thing, t: Tensor, width: int, height: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Centre x, centre y, size (pixels) and angle of `thing` at times t (seconds)."""
    s = min(width, height)
    size = torch.full_like(t, SIZES[thing.size] * s)
    x = torch.full_like(t, thing.start[0] * width)
    y = torch.full_like(t, thing.start[1] * height)
    angle = torch.zeros_like(t)
    v = SPEED * s
    m = thing.motion
    if m == "left":
        x = x - v * t
    elif m == "right":
        x = x + v * t
    elif m in ("up", "rises"):
        y = y - v * t
    elif m == "down":
        y = y + v * t
    elif m == "falls":
        y = torch.minimum(y + 0.5 * GRAVITY * s * t**2, height - size / 2)
    elif m == "bounces":
        y = (height - size / 2) - BOUNCE_HEIGHT * s * torch.sin(math.pi * t / BOUNCE_PERIOD).abs()
    elif m == "circles":
        a = thing.phase + ORBIT_SPEED * t
        x = width / 2 + ORBIT_RADIUS * s * torch.cos(a)
        y = height / 2 + ORBIT_RADIUS * s * torch.sin(a)
    elif m == "grows":
        size = size * GROW_PER_SECOND**t
    elif m == "shrinks":
        size = size / GROW_PER_SECOND**t
    elif m == "spins":
        angle = thing.phase + SPIN_SPEED * t
    return x, y, size, angle


def distance(shape: str, px: Tensor, py: Tensor, x: Tensor, y: Tensor, size: Tensor, angle: Tensor) -> Tensor:
    """Signed distance (pixels, negative inside) of every pixel to the shape, per frame: (T, H, W)."""
    x, y, size, angle = (v.view(-1, 1, 1) for v in (x, y, size, angle))
    dx, dy = px - x, py - y
    if shape == "circle":
        return torch.sqrt(dx**2 + dy**2) - size / 2
    c, s = torch.cos(angle), torch.sin(angle)
    qx, qy = c * dx + s * dy, -s * dx + c * dy  # into the shape's own frame
    half = size / 2
    if shape == "square":
        return torch.maximum(qx.abs(), qy.abs()) - half
    # isosceles triangle, point up, base = height = size, centred on its bounding box:
    # the slanted edges (by symmetry in x) have outward normal (2, -1)/sqrt(5) from the apex
    slanted = (2 * qx.abs() - qy - half) / math.sqrt(5.0)
    return torch.maximum(slanted, qy - half)


def scene_view(scene: Scene, width: int, height: int, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The scene's camera at times t: the world point at the frame's centre (x, y) and the zoom, each (T,)."""
    camera = scene.camera
    if camera is None:
        return view(camera, t, width, height, (t, t))
    # a close-up's framing before a late move stays where the target was when the move started
    seen_at = t.clamp_max(camera.move_from) if camera.before == "close" else t
    return view(camera, t, width, height, track(scene.things[camera.target], seen_at, width, height)[:2])


def world_grid(scene: Scene, width: int, height: int, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Where each pixel looks in the world, per frame: x (T, 1, W), y (T, H, 1), and the zoom (T, 1, 1)."""
    cx, cy, zoom = (v.view(-1, 1, 1) for v in scene_view(scene, width, height, t))
    px = torch.arange(width, dtype=torch.float32).view(1, 1, -1) + 0.5
    py = torch.arange(height, dtype=torch.float32).view(1, -1, 1) + 0.5
    return cx + (px - width / 2) / zoom, cy + (py - height / 2) / zoom, zoom


def coverage(scene: Scene, width: int, height: int, frames: int, fps: float = FPS, t0: float = 0.0) -> Tensor:
    """(K, T, H, W): how much of each pixel each of the scene's K objects covers, before occlusion."""
    t = t0 + torch.arange(frames, dtype=torch.float32) / fps
    wx, wy, zoom = world_grid(scene, width, height, t)
    # distances are in world pixels: times the zoom they are frame pixels, which anti-alias over one
    return torch.stack([(0.5 - zoom * distance(thing.shape, wx, wy, *track(thing, t, width, height))).clamp(0, 1)
                        .expand(frames, height, width) for thing in scene.things])


def render(scene: Scene, width: int, height: int, frames: int, fps: float = FPS, t0: float = 0.0) -> Tensor:
    """-> uint8 (T, H, W, 3)."""
    image = torch.tensor(BACKGROUNDS[scene.background], dtype=torch.float32).expand(frames, height, width, 3).clone()
    if scene.camera is not None and scene.camera.marks:
        t = t0 + torch.arange(frames, dtype=torch.float32) / fps
        wx, wy, zoom = world_grid(scene, width, height, t)
        cover = (0.5 - zoom * mark_distance(wx, wy, min(width, height))).clamp(0, 1)[..., None]
        image = image * (1 - cover) + torch.tensor(mark_colour(BACKGROUNDS[scene.background])) * cover
    covers = coverage(scene, width, height, frames, fps, t0)
    for thing, cover in zip(scene.things, covers):
        cover = cover[..., None]
        colour = torch.tensor(OBJECT_COLOURS[thing.colour], dtype=torch.float32)
        image = image * (1 - cover) + colour * cover
    if scene.bw:
        grey = image @ torch.tensor([0.299, 0.587, 0.114])
        image = grey[..., None].expand(-1, -1, -1, 3)
    return image.round().clamp(0, 255).to(torch.uint8)
