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
# What a late move's camera may do before it starts: a storyboard's shot before may have panned or zoomed, or cut
# to a close-up or a wide shot (FRAMINGS), and the next shot's move starts from the view that left.
PANS_AND_ZOOMS = ("pan left", "pan right", "zoom in", "zoom out")
BEFORE = ("still",) + PANS_AND_ZOOMS + FRAMINGS
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
    # what the camera does until move_from (BEFORE): hold still, another pan or zoom, or a cut's framing (a
    # close-up follows the target); the move then starts from where that left the view
    before: str = "still"
    # the world's marks drawn: False for a cut in a scene whose camera nothing said (a storyboard without a camera
    # move), which shows only in the objects
    marks: bool = True

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
    if camera.move == "follow":  # the target keeps the place in the frame it started at
        cx, cy = cx + target[0] - target[0][:1], cy + target[1] - target[1][:1]
    else:
        if camera.before in FRAMINGS:  # for a close-up scene_view gives the target where it was at move_from on
            cx, cy, zoom = _framed(camera.before, t, width, height, target)
        else:
            cx, cy, zoom = _moved(camera.before, t.clamp_max(camera.move_from), cx, cy, zoom, s)
        cx, cy, zoom = _moved(camera.move, (t - camera.move_from).clamp_min(0.0), cx, cy, zoom, s)
    if camera.cut_at is not None:
        after = t >= camera.cut_at
        framed = _framed(camera.cut_to, t, width, height, target)
        cx, cy, zoom = (torch.where(after, a, b) for a, b in zip(framed, (cx, cy, zoom)))
    return cx, cy, zoom


def _framed(framing: str, t: Tensor, width: int, height: int,
            target: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """The view of a cut's framing (FRAMINGS): a close-up follows the target at CLOSE_ZOOM, a wide shot is about the
    frame's centre at WIDE_ZOOM."""
    if framing == "close":
        return target[0], target[1], torch.full_like(t, CLOSE_ZOOM)
    return torch.full_like(t, width / 2), torch.full_like(t, height / 2), torch.full_like(t, WIDE_ZOOM)


def _moved(move: str, seconds: Tensor, cx: Tensor, cy: Tensor, zoom: Tensor, s: int) -> tuple[Tensor, Tensor, Tensor]:
    """A view after `seconds` of a pan or zoom (anything else holds it): a pan covers PAN_SPEED of the screen's
    shorter side a second at any zoom, a zoom multiplies the zoom by ZOOM_PER_SECOND a second."""
    if move in ("pan left", "pan right"):
        cx = cx + (PAN_SPEED * s * seconds / zoom) * (1 if move == "pan right" else -1)
    elif move in ("zoom in", "zoom out"):
        zoom = zoom * ZOOM_PER_SECOND ** (seconds if move == "zoom in" else -seconds)
    return cx, cy, zoom


def mark_distance(wx: Tensor, wy: Tensor, s: int) -> Tensor:
    """World distance (pixels at zoom 1, negative inside) to the nearest mark of the lattice."""
    step = MARK_SPACING * s
    mx, my = wx - step * torch.round(wx / step), wy - step * torch.round(wy / step)
    return torch.sqrt(mx**2 + my**2) - MARK_RADIUS * s
