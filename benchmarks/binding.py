"""Why two-object binding fails: for the two-object prompts among `sora eval`'s held-out ones (same seed, same
prompts, full size unless --preview), which of each object's colour, position and motion the model's clip misses,
beside the true clip of the same scene under the same checker.

`sora eval` reports binding as one number (both objects right in colour, position and motion) and the checker's
own ceiling on the true clips beside it; this splits the gap between them by attribute: a clip counts against an
attribute when the model misses it and the true clip does not. For each such miss it prints the motion the checker
read from the model's track (and its displacement over the frame's short side, dx / dy) against the true clip's.

    python benchmarks/binding.py                       # the shipped sora-mini
    python benchmarks/binding.py --model runs/shots/snapshots/min040.0 --preview
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch

BOUND = ("colour", "position", "motion")


def read_motions(frames: np.ndarray, scene) -> list[str]:
    """The checker's motion of each object (with its displacement over the short side), or 'none'."""
    from sora_cli.research.world.checker import background, is_bw, motion, object_mask, track
    from sora_cli.research.world.vocab import OBJECT_COLOURS

    _, h, w, _ = frames.shape
    s = min(h, w)
    bw = is_bw(frames)
    _, bg = background(frames, bw)
    out = []
    for thing in scene.things:
        tr = track(object_mask(frames, bg, OBJECT_COLOURS[thing.colour], bw))
        out.append("none" if tr is None else
                   f"{motion(tr, s, 24.0, h, w)} ({(tr.x[-1] - tr.x[0]) / s:+.2f}, {(tr.y[-1] - tr.y[0]) / s:+.2f})")
    return out


def main() -> None:
    from sora_cli.engine import Engine
    from sora_cli.plan import plan_clip
    from sora_cli.research.evaluation import _frames, _make_job, held_out_scenes
    from sora_cli.research.world.checker import binding, check
    from sora_cli.research.world.render import render
    from sora_cli.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--prompts", type=int, default=40,
                    help="sora eval's held-out prompts to take the two-object ones of")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preview", action="store_true")
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    args = ap.parse_args()

    model = load_model(args.model, torch.device("cpu"), torch.float32)
    engine = Engine(model)
    bound = truth_bound = pairs = 0
    lost = Counter()  # attribute -> clips where the model misses it and the true clip does not
    for i, (scene, prompt, preset) in enumerate(held_out_scenes(args.prompts, args.seed)):
        if len(scene.things) < 2:
            continue
        job = _make_job(prompt, preset, args.seed + i, args.preview, steps=args.steps)  # as sora eval makes it
        frames = _frames(job, engine)
        size = plan_clip(job, model).settings
        truth = render(scene, size.width, size.height, 49)[:48].numpy()
        got, want = check(frames, scene), check(truth, scene)
        pairs += 1
        bound += bool(binding(got, scene))
        truth_bound += bool(binding(want, scene))
        missed = sorted({k.split(".")[1] for k, ok in got.items() if k[:2] in ("0.", "1.") and not ok
                         and k.split(".")[1] in BOUND and want[k]})
        lost.update(missed)
        print(f"{i:3d} {'bound' if binding(got, scene) else '-----'} (true clip "
              f"{'bound' if binding(want, scene) else '-----'}) {prompt}", flush=True)
        if missed:
            print(f"      missed {', '.join(missed)}; motions read: {read_motions(frames, scene)}, "
                  f"true clip's: {read_motions(truth, scene)}, said: {[t.motion for t in scene.things]}")
    print(f"binding {bound} of {pairs} (true clips {truth_bound}); clips that miss an attribute the true clip keeps: "
          + ", ".join(f"{a} {lost[a]}" for a in BOUND))


if __name__ == "__main__":
    main()
