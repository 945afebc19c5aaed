"""Evaluating storyboards: shots of one world scene joined by continue or cut, judged from pixels.

Each storyboard is 2-4 shots of 1 s of one random scene: the first shot's prompt is the
scene's caption; a `continue` shot repeats it, sometimes with a camera move (the first shot
then says that the camera holds still, so the scene has the marks a move shows on); a `cut`
shot goes to a close-up of one object or a wide shot. Judged (research/world/camera_checker.py):
a cut is a cut (one cut, at the join), identity across cuts (the objects after it have the
colours and shapes of the scene), a continue join's change over the clip's typical one, and
the camera move a continue shot asked for (a join that starts one is also judged against that
move's own pace). The world's own cuts to the same framings, judged
the same way, say how many cuts the checker can find at all.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from sora_cli.engine import Engine
from sora_cli.jobs import Job
from sora_cli.models.interface import LoadedModel
from sora_cli.presets import get_preset
from sora_cli.research.evaluation import PRESETS, seam_ratio
from sora_cli.research.world import camera_checker, checker
from sora_cli.research.world.camera import Camera
from sora_cli.research.world.captions import caption
from sora_cli.research.world.render import render
from sora_cli.research.world.scene import Scene, random_scene
from sora_cli.research.world.vocab import CAMERA_PHRASES, OBJECT_COLOURS
from sora_cli.storyboard import Shot, Storyboard, render_storyboard

SHOT_SECONDS = 1.0
MOVES = ("pan left", "pan right", "zoom in", "zoom out")
SEAM_TARGET = 1.5  # a continue join's change, over the clip's typical frame change


def eval_storyboards(count: int, seed: int = 0) -> list[tuple[Scene, list[Shot], list, str]]:
    """The storyboards judged: (scene, shots, what each shot after the first asks, preset) each. What a shot asks is
    ("cut", the objects it should show) or ("continue", the camera move or None)."""
    rng = random.Random(seed + 2)
    boards = []
    for k in range(count):
        scene = random_scene(rng, two_objects=0.3, bw=0.0)
        shots, asked = [Shot(caption(scene, rng), SHOT_SECONDS, "cut")], []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                target = rng.randrange(len(scene.things))
                thing = scene.things[target]
                close = rng.random() < 0.5
                prompt = f"a close-up of the {thing.colour} {thing.shape}" if close else "a wide shot"
                shots.append(Shot(prompt, SHOT_SECONDS, "cut"))
                asked.append(("cut", [target] if close else list(range(len(scene.things)))))
            else:
                move = rng.choice(MOVES + (None,))
                prompt = caption(scene, rng)
                if move:
                    prompt = f"{prompt}, as {rng.choice(CAMERA_PHRASES[move])[0]}"
                shots.append(Shot(prompt, SHOT_SECONDS, "continue"))
                asked.append(("continue", move))
        if _moves_camera(asked):
            # The world's camera shows only by its marks, which a scene has from its first frame when it has a
            # camera: the first shot says it holds still, so the shots after it have marks to pan and zoom over.
            # (Its own draw, so the storyboards stay those judged before.)
            phrase = random.Random(seed + 3 + k).choice(CAMERA_PHRASES["still"])[0]
            shots[0] = Shot(f"{shots[0].prompt}, as {phrase}", SHOT_SECONDS, "cut")
        boards.append((scene, shots, asked, rng.choice(PRESETS)))
    return boards


def storyboard_eval(model: LoadedModel, count: int, seed: int = 0, log: Callable[[str], None] = lambda m: None) -> dict:
    engine = Engine(model)
    cut_ok, identity, seams, camera, true_cuts, held, paced = [], [], [], [], [], [], []
    for k, (scene, shots, asked, preset) in enumerate(eval_storyboards(count, seed)):
        size = get_preset(preset)
        base = Job(mode="generate", prompt=shots[0].prompt, seed=seed + 100 * k, model="", width=size.width,
                   height=size.height, fps=24.0, frames=1)
        parts = [new.numpy() for _, _, new in render_storyboard(Storyboard(tuple(shots), {}), base, model, engine)]
        whole = np.concatenate(parts)
        starts = np.cumsum([0] + [len(p) for p in parts])
        for j, what in enumerate(asked, 1):
            b = int(starts[j])
            if what[0] == "continue":
                seams.append(seam_ratio(whole, b))
                if what[1]:
                    camera.append(_camera_is(parts[j], what[1]))
                    paced.append(_over_own_pace(whole, b))
                else:
                    held.append(seams[-1])
                continue
            window = whole[max(0, b - 12):b + 12]
            cut_ok.append(camera_checker.cuts(window) == [b - max(0, b - 12)])
            identity.append(_same_objects(parts[j], [scene.things[i] for i in what[1]]))
            true_cuts.append(_true_cut_is_cut(scene, shots[j], what[1], asked, parts[j].shape[1:3]))
        log(f"storyboard {k + 1}/{count}: {len(shots)} shots")
    return {"storyboards": count, "cuts": len(cut_ok), "cut_is_cut": _mean(cut_ok),
            "cut_is_cut_true_clips": _mean(true_cuts),
            "identity_across_cuts": _mean(identity), "continue_joins": len(seams),
            "continue_seam_over_typical": _mean(seams),
            f"continue_seams_under_{SEAM_TARGET:g}": _mean([s <= SEAM_TARGET for s in seams]),
            f"joins_without_a_move_under_{SEAM_TARGET:g}": _mean([s <= SEAM_TARGET for s in held]),
            f"move_starts_under_{SEAM_TARGET:g}_of_their_pace": _mean([s <= SEAM_TARGET for s in paced]),
            "camera_moves": len(camera), "camera": _mean(camera)}


def _true_cut_is_cut(scene: Scene, shot: Shot, shown: list[int], asked: list, size: tuple[int, int]) -> bool:
    """Whether the checker finds the world's own cut to this shot's framing, at this size, a clean cut: a wide shot
    of small objects, or a cut without marks, changes too little for it to find in some scenes."""
    close = shot.prompt.startswith("a close-up")
    cut = Camera("still", shown[0] if close else 0, cut_at=1.0, cut_to="close" if close else "wide",
                 marks=_moves_camera(asked))  # the first shot then says the camera, so the scene has marks
    frames = render(replace(scene, camera=cut), size[1], size[0], 24, t0=0.5).numpy()  # the window judged at a join
    return camera_checker.cuts(frames) == [12]


def _moves_camera(asked: list) -> bool:
    """Whether a storyboard has a continue shot that moves the camera (what each shot after the first asks)."""
    return any(what[0] == "continue" and what[1] for what in asked)


def _over_own_pace(frames: np.ndarray, seam: int, steps: int = 8) -> float:
    """A join that starts a pan or zoom: its change over the move's own (the median of the next `steps` frame
    changes). Over the clip's typical change, a move that starts as asked reads as a jump where the shots before it
    held still: v19's every such join over 1.5x (20 of 80 on 96 storyboards) is within 1.5x of its move's pace."""
    f = frames.astype(np.float32)
    after = np.abs(f[seam + 1:seam + 1 + steps] - f[seam:seam + steps]).mean(axis=(1, 2, 3))
    return float(np.abs(f[seam] - f[seam - 1]).mean() / max(np.median(after), 0.5))


def _camera_is(frames: np.ndarray, move: str) -> bool:
    bw = checker.is_bw(frames)
    name, _ = checker.background(frames, bw)
    return camera_checker.camera_move(camera_checker.camera_path(frames, name, bw), None, min(frames.shape[1:3])) \
        == move


def _same_objects(frames: np.ndarray, things: list) -> bool:
    """Every object the shot should show is there, with its colour and (where big enough to tell) its shape."""
    bw = checker.is_bw(frames)
    _, bg = checker.background(frames, bw)
    return all(camera_checker.is_the_same(checker.track(checker.object_mask(frames, bg, OBJECT_COLOURS[t.colour], bw)),
                                          t) for t in things)


def _mean(values: list) -> float | None:
    return round(float(np.mean(values)), 3) if values else None
