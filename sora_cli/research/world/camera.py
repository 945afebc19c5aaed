"""The world's camera: still, a pan, a zoom or a follow (a pan or zoom may start partway), or one cut, as a view
per frame.

A view maps world points (pixels of the frame at t = 0 seen without a camera) into the
frame: p = (P - centre) * zoom + frame centre. A scene without a camera has the identity
view and no marks, so it renders exactly as the world without a camera did. A scene with
one shows a lattice of faint marks fixed in the world, which is what makes a pan visible
on a flat background (docs/world.md, "Camera and cuts").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sora_cli.research.world.vocab import luma

MOVES = ("still", "pan left", "pan right", "zoom in", "zoom out", "follow")
FRAMINGS = ("close", "wide")
PAN_SPEED = 0.25  # S per second
ZOOM_PER_SECOND = 1.5  # zoom in: x2.25 over 2 s; zoom out: / 2.25
CLOSE_ZOOM, WIDE_ZOOM = 2.0, 0.6  # the framings a cut goes to
MARK_SPACING, MARK_RADIUS = 0.2, 0.025  # S
MARK_SHIFT = 0.2  # marks are this much darker than the background (lighter on very dark ones)


@dataclass(frozen=True)
class Camera:
    move: str = "still"
    target: int = 0  # the object a follow or a close-up keeps in the middle
    cut_at: float | None = None  # seconds: the one cut of the clip, if any
    cut_to: str = "close"  # close: a close-up that follows the target; wide: the whole scene from further away
    # seconds the camera holds still before its pan or zoom starts: a storyboard's next shot can start a move that
    # its shot before, with a still camera, did not have
    move_from: float = 0.0

    @property
    def change_at(self) -> float | None:
        """Seconds: when the clip's one change comes, its cut or the start of a late move (None: neither)."""
        return self.cut_at if self.cut_at is not None else (self.move_from or None)


def mark_colour(background: tuple[int, int, int]) -> tuple[float, float, float]:
    if luma(background) < 50:
        return tuple(c + MARK_SHIFT * (255 - c) for c in background)
    return tuple(c * (1 - MARK_SHIFT) for c in background)


def view(camera: Camera | None, t: Tensor, width: int, height: int,
         target: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """(centre x, centre y, zoom) at times t; `target` is the target object's world centre at t."""
    s = min(width, height)
    cx, cy, zoom = torch.full_like(t, width / 2), torch.full_like(t, height / 2), torch.ones_like(t)
    if camera is None:
        return cx, cy, zoom
    moving = (t - camera.move_from).clamp_min(0.0)
    if camera.move == "pan left":
        cx = cx - PAN_SPEED * s * moving
    elif camera.move == "pan right":
        cx = cx + PAN_SPEED * s * moving
    elif camera.move == "zoom in":
        zoom = ZOOM_PER_SECOND**moving
    elif camera.move == "zoom out":
        zoom = ZOOM_PER_SECOND ** (-moving)
    elif camera.move == "follow":  # the target keeps the place in the frame it started at
        cx, cy = cx + target[0] - target[0][:1], cy + target[1] - target[1][:1]
    if camera.cut_at is not None:
        after = t >= camera.cut_at
        if camera.cut_to == "close":
            cx, cy, zoom = (torch.where(after, a, b) for a, b in ((target[0], cx), (target[1], cy),
                                                                    (torch.full_like(t, CLOSE_ZOOM), zoom)))
        else:
            cx = torch.where(after, torch.full_like(t, width / 2), cx)
            cy = torch.where(after, torch.full_like(t, height / 2), cy)
            zoom = torch.where(after, torch.full_like(t, WIDE_ZOOM), zoom)
    return cx, cy, zoom


def mark_distance(wx: Tensor, wy: Tensor, s: int) -> Tensor:
    """World distance (pixels at zoom 1, negative inside) to the nearest mark of the lattice."""
    step = MARK_SPACING * s
    mx, my = wx - step * torch.round(wx / step), wy - step * torch.round(wy / step)
    return torch.sqrt(mx**2 + my**2) - MARK_RADIUS * s
