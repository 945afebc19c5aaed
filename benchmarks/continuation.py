"""Does an extension carry the motion on? The object's track in a model's next second against the world's.

For held-out-template prompts of one-object scenes (or two-object ones, each object judged), 2 s of the true
clip are extended by 1 s (`sora extend`'s path: one window given the last 9 frames), and the new frames' object is
compared with the world's own next second: its centre's distance from the true one (in shorter sides, S), the
frames where it is more than 0.25 S off, the frames where it is gone while the world still shows it, and the
checker's motion over all 3 s. A storyboard's continue shot and every window after a long clip's first go through
the same conditioning.

    python benchmarks/continuation.py                                     # the shipped sora-mini, 12 scenes
    python benchmarks/continuation.py --guidance 2.5
    python benchmarks/continuation.py --guidance-interval 0.6 1.0 --model runs/sb/snapshots/min010.0
    python benchmarks/continuation.py --two-objects                      # every object of two-object scenes
    python benchmarks/continuation.py --two-objects --encoder-order      # given frames' slots as encoded
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch

FAR = 0.25  # S


def main() -> None:
    from sora_cli.engine import Engine
    from sora_cli.plan import plan_clip
    from sora_cli.research.evaluation import PRESETS, _frames, _make_job
    from sora_cli.research.world import checker
    from sora_cli.research.world.captions import caption
    from sora_cli.research.world.render import render
    from sora_cli.research.world.scene import random_scene
    from sora_cli.research.world.vocab import OBJECT_COLOURS
    from sora_cli.video_io import Video
    from sora_cli.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--guidance", type=float, default=None)
    ap.add_argument("--guidance-interval", type=float, nargs=2, default=None)
    ap.add_argument("--two-objects", action="store_true", help="two-object scenes instead of one-object ones")
    ap.add_argument("--encoder-order", action="store_true",
                    help="leave the given frames' object slots in the encoder's order (no Latents.order_given)")
    args = ap.parse_args()

    model = load_model(args.model, torch.device("cpu"), torch.float32)
    if args.encoder_order:
        model.net.vae.order_given = lambda latents, strength, expected: latents
    engine = Engine(model)
    rng = random.Random(5)
    scenes = [(random_scene(rng, two_objects=float(args.two_objects), bw=0.0), rng.choice(PRESETS))
              for _ in range(args.scenes)]
    errors, lost, motion = [], 0, 0
    for i, (scene, preset) in enumerate(scenes):
        prompt = caption(scene, rng, held_out=True)
        s = plan_clip(_make_job(prompt, preset, 0, False), model).settings
        truth = render(scene, s.width, s.height, 72).numpy()
        job = _make_job(prompt, preset, 100 + i, False, frames=24, mode="extend",
                        video=Video(torch.from_numpy(truth[:48]), 24.0), guidance=args.guidance,
                        guidance_interval=None if args.guidance_interval is None else tuple(args.guidance_interval))
        frames = _frames(job, engine)[:72]
        _, bg = checker.background(truth[:1], False)
        lost_before = lost
        for thing in scene.things:
            colour = OBJECT_COLOURS[thing.colour]
            made, true = (checker.object_mask(f, bg, colour, False) for f in (frames[48:], truth[48:]))
            for m, t in zip(made, true):
                if t.sum() < 4:  # the world's object has left the frame too
                    continue
                if m.sum() < 4:
                    lost += 1
                    continue
                (my, mx), (ty, tx) = np.nonzero(m), np.nonzero(t)
                errors.append(np.hypot(mx.mean() - tx.mean(), my.mean() - ty.mean()) / min(s.width, s.height))
        judged = checker.check(frames, scene)
        motion += all(ok for key, ok in judged.items() if key.split(".")[-1] == "motion")
        print(f"scene {i + 1}/{len(scenes)}: gone in {lost - lost_before} frames: {prompt}", flush=True)
    judged = len(errors) + lost
    far = sum(e > FAR for e in errors)
    print(f"centre error {np.mean(errors):.3f} S; more than {FAR} S off in {far} of {judged} frames; "
          f"gone in {lost}; every object's motion over the 3 s {motion} of {len(scenes)}")


if __name__ == "__main__":
    main()
