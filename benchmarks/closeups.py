"""Is a close-up of the object it names? Two-object scenes cut to a close-up of one of them, judged from pixels.

Each scene has two objects; every other one names the first-said object in its close-up, the rest the second. The
shot before is the scene's caption (1 s); the close-up (1 s) is a storyboard's cut shot (`sora storyboard`'s path:
the shot before given as context), or with --generate one 2 s clip whose prompt says the cut. A close-up is right
when the named object, after the cut, covers more than twice the area it did before it (the world's close-up zooms
2x, so 4x the area) and has its shape. The world's own clips of the same scenes and cuts pass 20 of 20.

    python benchmarks/closeups.py                                   # the shipped sora-mini, 20 scenes
    python benchmarks/closeups.py --generate --model runs/more/snapshots/min040.0
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch

GROWN = 2.0  # the named object's area after the cut over before it


def main() -> None:
    from sora_cli.engine import Engine
    from sora_cli.jobs import Job
    from sora_cli.plan import plan_clip
    from sora_cli.presets import get_preset
    from sora_cli.render import render
    from sora_cli.research.evaluation import PRESETS
    from sora_cli.research.world import camera_checker, checker
    from sora_cli.research.world.captions import caption
    from sora_cli.research.world.scene import random_scene
    from sora_cli.research.world.vocab import OBJECT_COLOURS
    from sora_cli.storyboard import Shot, Storyboard, render_storyboard
    from sora_cli.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--generate", action="store_true", help="one clip whose prompt says the cut, not a storyboard")
    args = ap.parse_args()

    model = load_model(args.model, torch.device("cpu"), torch.float32)
    engine = Engine(model)
    rng = random.Random(77)
    right = {0: [], 1: []}  # which object was named (its slot: the order said) -> close-ups right
    for k in range(args.scenes):
        scene = random_scene(rng, two_objects=1.0, bw=0.0)
        named = k % 2
        thing = scene.things[named]
        close_up = f"a close-up of the {thing.colour} {thing.shape}"
        shots = (Shot(caption(scene, rng), 1.0, "cut"), Shot(close_up, 1.0, "cut"))
        size = get_preset(rng.choice(PRESETS))
        base = Job(mode="generate", prompt=shots[0].prompt, seed=k, model="", width=size.width, height=size.height,
                   fps=24.0, frames=1)
        if args.generate:
            job = Job(mode="generate", prompt=f"{shots[0].prompt}, then cut to {shots[1].prompt}", seed=k, model="",
                      width=size.width, height=size.height, fps=24.0, frames=48)
            whole = torch.cat([s.frames for s in render(plan_clip(job, model), engine)]).numpy()
            before, after = whole[:12], whole[-12:]  # where the cut falls is the model's
        else:
            before, after = (p.numpy() for _, _, p in render_storyboard(Storyboard(shots, {}), base, model, engine))
        tracks = []
        for frames in (before, after):
            bw = checker.is_bw(frames)
            _, bg = checker.background(frames, bw)
            tracks.append([checker.track(checker.object_mask(frames, bg, OBJECT_COLOURS[t.colour], bw))
                           for t in scene.things])
        areas = [[0.0 if tr is None else float(np.median(tr.area)) for tr in side] for side in tracks]
        grew = [a / max(b, 1.0) for b, a in zip(*areas)]
        ok = grew[named] > GROWN and camera_checker.is_the_same(tracks[1][named], thing)
        right[named].append(ok)
        print(f"{k:3d} {'right' if ok else 'wrong'}: named the {'first' if named == 0 else 'second'} said; areas "
              f"x{grew[0]:.1f} / x{grew[1]:.1f}: {shots[0].prompt} | {shots[1].prompt}", flush=True)
    total = sum(map(sum, right.values()))
    print(f"close-up of the object named: {total} of {args.scenes} (first said {sum(right[0])} of {len(right[0])}, "
          f"second said {sum(right[1])} of {len(right[1])})")


if __name__ == "__main__":
    main()
