"""Scenes: the parameters of one clip of the world, sampled at random within the spec's rules."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from sora_cli.research.world.camera import FRAMINGS, MOVES, PANS_AND_ZOOMS, Camera
from sora_cli.research.world.vocab import (
    BACKGROUNDS,
    LAYOUTS,
    MOTIONS,
    OBJECT_COLOURS,
    SHAPES,
    SIZES,
    luma,
)


@dataclass(frozen=True)
class Thing:
    colour: str
    shape: str
    size: str
    motion: str
    layout: str | None  # a layout word, or None when the caption names no start position
    start: tuple[float, float]  # centre at t=0 as fractions of (width, height)
    phase: float = 0.0  # starting angle for circles/spins


@dataclass(frozen=True)
class Scene:
    background: str
    things: tuple[Thing, ...]
    bw: bool = False
    size_said: tuple[bool, ...] = field(default=(True,))
    camera: Camera | None = None  # None: the world without a camera (no marks, the identity view)


# Layout words that would push an object out of the frame with this motion.
INCOMPATIBLE = {"left": {"left", "center"}, "right": {"right", "center"}, "up": {"top", "center"},
                "rises": {"top", "center"}, "down": {"bottom", "center"}, "falls": {"bottom", "center"},
                "bounces": {"top", "center"}, "circles": set(LAYOUTS)}


def layout_start(layout: str | None, motion: str, rng: random.Random, side: int = 0) -> tuple[float, float]:
    """Where an object starts: its layout word's third, else a place that leaves room for the motion.

    Motions travel 0.7 S in 2 s, which is 0.7 of a portrait frame's width: objects that
    move sideways start near the edge they move away from, so they stay in frame.
    """
    x, y = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)
    if side:  # two objects without layout words: keep them apart
        x = rng.uniform(0.15, 0.3) if side < 0 else rng.uniform(0.7, 0.85)
    x = {"left": rng.uniform(0.78, 0.88), "right": rng.uniform(0.12, 0.22)}.get(motion, x)
    y = {"up": rng.uniform(0.78, 0.88), "rises": rng.uniform(0.78, 0.88), "down": rng.uniform(0.12, 0.22),
         "falls": rng.uniform(0.15, 0.3)}.get(motion, y)
    # inside the named third, far enough from the edge that a large object is wholly in view
    if layout == "left":
        x = rng.uniform(0.17, 0.25)
    elif layout == "right":
        x = rng.uniform(0.75, 0.83)
    elif layout == "top":
        y = rng.uniform(0.17, 0.25)
    elif layout == "bottom":
        y = rng.uniform(0.75, 0.83)
    elif layout == "center":
        x, y = rng.uniform(0.45, 0.55), rng.uniform(0.45, 0.55)
    return x, y


# Motions a camera can follow (the others stay in place), and those that keep an object in
# view while the camera zooms about the frame's centre.
# (Not bounces: it rests on the bottom edge, and a camera keeping it there never shows it whole.)
FOLLOWABLE = ("left", "right", "up", "down", "falls", "rises", "circles")
ZOOMABLE = ("still", "spins", "grows", "shrinks")


def with_camera(rng: random.Random, things: list[Thing], cut: float, still: float = 0.0,
                late: float = 0.0, after_move: float = 0.0, unmarked: float = 0.0) -> tuple[list[Thing], Camera]:
    """A camera for these objects: with probability `cut` a still shot and one cut; else, with probability `still`,
    a camera that holds still all clip; else one move, which with probability `late` (a pan or a zoom) starts
    partway, on a frame between 0.4 s and 1.2 s, and with probability `after_move` after another pan or zoom or a
    cut's framing (camera.BEFORE; the framings half the time, as a storyboard's cuts are half its joins) instead
    of a still camera. With probability `unmarked` a cut's marks are not drawn. No draw is made for a share of 0,
    so seeded scene sets stay."""
    if rng.random() < cut:
        at = round(rng.uniform(0.8, 1.2) * 24) / 24  # on a frame, in the clip's middle
        cam = Camera("still", rng.randrange(len(things)), cut_at=at, cut_to=rng.choice(FRAMINGS))
        return things, replace(cam, marks=False) if unmarked and rng.random() < unmarked else cam
    if still and rng.random() < still:
        return things, Camera("still")
    move = rng.choice(MOVES[1:])
    if move.startswith("zoom"):  # a zoom is about the frame's centre: objects that stay near it stay in view
        things = [replace(thing, motion=rng.choice(ZOOMABLE), layout=None,
                          start=(rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)) if len(things) == 1
                          else (0.3 + 0.4 * i + rng.uniform(-0.05, 0.05), rng.uniform(0.4, 0.6)))
                  for i, thing in enumerate(things)]
    movers = [i for i, thing in enumerate(things) if thing.motion in FOLLOWABLE]
    if move == "follow" and not movers:
        move = rng.choice(("pan left", "pan right"))
    if move == "follow":
        return things, Camera(move, rng.choice(movers))
    if late and rng.random() < late:
        at = round(rng.uniform(0.4, 1.2) * 24) / 24
        if after_move and rng.random() < after_move:
            before = rng.choice(FRAMINGS if rng.random() < 0.5 else PANS_AND_ZOOMS)
            return things, Camera(move, rng.randrange(len(things)), move_from=at, before=before)
        return things, Camera(move, move_from=at)
    return things, Camera(move)


def random_scene(rng: random.Random, two_objects: float = 0.3, bw: float = 0.1, camera: float = 0.0,
                 cut: float = 0.0, still: float = 0.0, late: float = 0.0, after_move: float = 0.0,
                 unmarked: float = 0.0) -> Scene:
    """`camera`: the share of scenes with a camera, of which `cut` have one cut (and no move); of the others,
    `still` hold still and `late` of the rest start their pan or zoom partway, `after_move` of those after another
    move or a cut's framing, and `unmarked` of the cuts without marks (with_camera)."""
    background = rng.choice(list(BACKGROUNDS))
    is_bw = rng.random() < bw
    count = 2 if rng.random() < two_objects else 1
    things, said = [], []
    colours = [c for c in OBJECT_COLOURS if c != background
               and (not is_bw or abs(luma(OBJECT_COLOURS[c]) - luma(BACKGROUNDS[background])) >= 60)]
    if not colours:  # e.g. black and white on gray: no grey level far enough; drop the style
        is_bw = False
        colours = [c for c in OBJECT_COLOURS if c != background]
    picked = rng.sample(colours, count) if len(colours) >= count else [rng.choice(colours)] * count
    for i, colour in enumerate(picked):
        motion = rng.choice(MOTIONS)
        allowed = [l for l in LAYOUTS if l not in INCOMPATIBLE.get(motion, set())]
        if count == 2:
            # a pair is told apart left/right, so only those layouts; the second mirrors the first
            sides = [l for l in ("left", "right") if l in allowed]
            layout = rng.choice(sides) if i == 0 and sides and rng.random() < 0.6 else None
            if i == 1 and things[0].layout in ("left", "right"):
                mirror = "right" if things[0].layout == "left" else "left"
                layout = mirror if mirror in allowed else None
            side = 0 if layout else (-1 if i == 0 else 1)
        else:
            layout = rng.choice(allowed) if allowed and rng.random() < 0.5 else None
            side = 0
        size = rng.choice(list(SIZES))
        things.append(Thing(colour, rng.choice(SHAPES), size, motion, layout,
                            layout_start(layout, motion, rng, side), rng.uniform(0, 6.283)))
        said.append(size != "medium" or rng.random() < 0.5)
    if camera and rng.random() < camera:  # no draw at 0: seeded prompt sets stay the ones evaluated before
        things, cam = with_camera(rng, things, cut, still, late, after_move, unmarked)
        return Scene(background, tuple(things), is_bw, tuple(said), cam)
    return Scene(background, tuple(things), is_bw, tuple(said))
