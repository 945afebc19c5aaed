"""The world's frames as scene latents: what the renderer knows of each frame, laid out as
models/mini/frame_latents.py's SCENE_LAYOUT. They are the targets of a frame autoencoder's two
halves, and the DiT's training latents, exact and without an encoder pass."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

from sora_cli.models.mini.frame_latents import BACKGROUND, SLOT, SLOTS
from sora_cli.research.world.camera import MARK_SPACING
from sora_cli.research.world.render import scene_view, track
from sora_cli.research.world.scene import Scene
from sora_cli.research.world.vocab import BACKGROUNDS, FPS, OBJECT_COLOURS, SHAPES, luma


def _colour(rgb: tuple[int, int, int], bw: bool) -> Tensor:
    # black and white is drawn as each colour's luma
    c = torch.full((3,), luma(rgb)) if bw else torch.tensor(rgb, dtype=torch.float32)
    return c / 127.5 - 1


def scene_latents(scene: Scene, width: int, height: int, frames: int, t0: float = 0.0, fps: float = FPS) -> Tensor:
    """(frames, SCENE_LAYOUT) raw scene latents of the frames render(scene, width, height, frames, fps, t0) draws.

    What the frame shows, through its camera: centres are fractions of the frame in [-1, 1], sizes fractions of its
    shorter side (x4 - 1), colours in [-1, 1]; an absent slot is -1 then zeros. The marks' lattice is its spacing
    on screen (log of shorter sides) and the phase of the world point at the frame's centre along each axis (cos,
    sin); a scene without a camera has no marks (-1) and the identity view's lattice, and one whose marks are not
    drawn (Camera.marks) no marks but its view's lattice, so the DiT keeps the framing a cut went to. Slots follow
    the caption's order, so the first object said is slot 0.
    """
    t = t0 + torch.arange(frames, dtype=torch.float32) / fps
    short = min(width, height)
    camera = scene.camera
    cx, cy, zoom = scene_view(scene, width, height, t)
    step = MARK_SPACING * short  # world pixels between marks
    columns = [_colour(BACKGROUNDS[scene.background], scene.bw).expand(frames, 3),
               torch.full((frames, 1), 1.0 if scene.bw else -1.0),
               torch.full((frames, 1), 1.0 if camera and camera.marks else -1.0),
               torch.log(MARK_SPACING * zoom)[:, None],
               torch.stack([torch.cos(2 * math.pi * cx / step), torch.sin(2 * math.pi * cx / step),
                            torch.cos(2 * math.pi * cy / step), torch.sin(2 * math.pi * cy / step)], dim=1)]
    for k in range(SLOTS):
        if k >= len(scene.things):
            columns += [torch.full((frames, 1), -1.0), torch.zeros(frames, SLOT - 1)]
            continue
        thing = scene.things[k]
        x, y, size, angle = track(thing, t, width, height)
        # on screen: p = (P - view centre) * zoom + frame centre (camera.view)
        x, y, size = (x - cx) * zoom + width / 2, (y - cy) * zoom + height / 2, size * zoom
        shape = torch.tensor([1.0 if thing.shape == s else -1.0 for s in SHAPES]).expand(frames, 3)
        columns += [torch.ones(frames, 1), _colour(OBJECT_COLOURS[thing.colour], scene.bw).expand(frames, 3), shape,
                    torch.stack([x / width * 2 - 1, y / height * 2 - 1, size / short * 4 - 1,
                                 torch.cos(3 * angle), torch.sin(3 * angle), torch.cos(4 * angle),
                                 torch.sin(4 * angle)], dim=1)]
    return torch.cat(columns, dim=1)


def close_up_first(scene: Scene) -> Scene:
    """The scene with the object its cut's close-up frames as the first (slot 0); any other scene as it is.

    A DiT whose slots follow the caption must find which of two slots a close-up's words name, by matching them to
    the objects it was given or drew, and sora-mini's did no better than chance (its own denoising error told the
    named object's close-up from the other's in 11 of 20: benchmarks/closeup_choice.py --as-said). With the framed
    object in slot 0, a close-up centres slot 0, and what the words name decides only which object that is, as the
    first one said decides it otherwise; at inference order_given puts the given frames' objects in that order, as
    the DiT's own reading of the prompt has them."""
    camera = scene.camera
    if camera is None or camera.cut_at is None or camera.cut_to != "close" or camera.target == 0:
        return scene
    order = [camera.target] + [i for i in range(len(scene.things)) if i != camera.target]
    return replace(scene, things=tuple(scene.things[i] for i in order),
                   size_said=tuple(scene.size_said[i] for i in order), camera=replace(camera, target=0))


def batch_latents(scenes: list[Scene], starts: list[float], width: int, height: int, frames: int,
                  close_ups_first: bool = False) -> Tensor:
    """(B, SCENE_LAYOUT, frames, 1, 1) raw latents of a batch of clips (data.Batch's scenes and starts); with
    `close_ups_first`, a close-up's object in slot 0 (close_up_first)."""
    if close_ups_first:
        scenes = [close_up_first(s) for s in scenes]
    z = torch.stack([scene_latents(s, width, height, frames, t0) for s, t0 in zip(scenes, starts)])
    return z.transpose(1, 2)[..., None, None]


def slot_orders(z: Tensor) -> list[Tensor]:
    """z (B, SCENE_LAYOUT, ...) with its object slots in every order (here: as is, and swapped).

    Pixels do not say which object a caption named first, so an encoder is scored on a two-object frame
    against the order that fits it best; the DiT, which reads the caption, trains on the caption's order."""
    assert SLOTS == 2, "slot_orders lists the orders of two slots"
    a, b = BACKGROUND, BACKGROUND + SLOT
    return [z, torch.cat([z[:, :a], z[:, b:], z[:, a:b]], dim=1)]
