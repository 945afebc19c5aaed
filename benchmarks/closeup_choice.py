"""Does the DiT know which of two objects a close-up names? Its own denoising error, judged on exact latents.

For two-object scenes that cut to a close-up of one object (every other one names the first-said), the window
of the world's own latents (1 s of the shot before, given; then the cut) is noised at several times with the same
noise twice: once as the world draws it, and once with the close-up on the other object under the same caption.
A DiT that reads the close-up's words predicts the true window's velocity better. Counted: scenes where its error
over the frames after the cut, summed over the times, is lower on the true window (chance: half).

    python benchmarks/closeup_choice.py                          # the shipped sora-mini (close-ups first)
    python benchmarks/closeup_choice.py --model M --as-said      # a model trained with slots in the caption's order
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace

import torch

TIMES = (0.2, 0.4, 0.6, 0.8, 0.95)
GIVEN = 25  # frames of the shot before


def main() -> None:
    from sora_cli.jobs import Job
    from sora_cli.plan import plan_clip
    from sora_cli.presets import get_preset
    from sora_cli.research.evaluation import PRESETS
    from sora_cli.research.training.scene_latents import close_up_first, scene_latents
    from sora_cli.research.world.camera import Camera
    from sora_cli.research.world.captions import caption
    from sora_cli.research.world.scene import random_scene
    from sora_cli.research.world.vocab import FPS
    from sora_cli.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--as-said", action="store_true", help="slots in the caption's order, as models before v19")
    args = ap.parse_args()

    model = load_model(args.model, torch.device("cpu"), torch.float32)
    frames = model.spec.window_frames
    order = (lambda scene: scene) if args.as_said else close_up_first
    rng = random.Random(77)
    right = 0
    for k in range(args.scenes):
        scene = random_scene(rng, two_objects=1.0, bw=0.0)
        named = k % 2
        true, other = (replace(scene, camera=Camera("still", i, cut_at=1.0, cut_to="close"))
                       for i in (named, 1 - named))
        prompt = caption(true, rng)
        size = get_preset(rng.choice(PRESETS))
        settings = plan_clip(Job(mode="generate", prompt=prompt, seed=k, model="", width=size.width,
                                 height=size.height, fps=24.0, frames=frames), model).settings
        windows = [model.net.vae.normalise(scene_latents(order(s), settings.width, settings.height, frames,
                                                         t0=1.0 - GIVEN / FPS).T[None, :, :, None, None])
                   for s in (true, other)]
        ctx, mask, _ = model.encode_text([prompt])
        new = torch.ones(frames)
        new[:GIVEN] = 0  # the shot before is given: clean, at time 0
        errors = torch.zeros(2)
        gen = torch.Generator().manual_seed(k)
        for t in TIMES:
            noise = torch.randn(windows[0].shape, generator=gen)
            times = (t * new)[None]
            for i, z in enumerate(windows):
                x = (1 - times[:, None, :, None, None]) * z + times[:, None, :, None, None] * noise
                with torch.no_grad():
                    v = model.net.dit(x, times, ctx, mask)
                errors[i] += (v - (noise - z))[:, :, GIVEN:].square().mean()
        right += bool(errors[0] < errors[1])
        print(f"{k:3d} {'right' if errors[0] < errors[1] else 'wrong'}: error {errors[0]:.3f} against "
              f"{errors[1]:.3f} | {prompt}", flush=True)
    print(f"the named object's close-up explained better: {right} of {args.scenes}")


if __name__ == "__main__":
    main()
