"""Does v2v recolour the object its prompt names, in two-object clips? Judged from pixels.

Each of 20 two-object world clips (2 s) is given to `sora v2v` at strength 0.7 (as `sora eval` does for one
object) with its caption, one object's colour changed: the first said in every other scene, the second in the rest.
The clip is right in colour when both objects show the colours the new prompt gives them, and keeps the motion
when both move as before; "bound" is the checker's binding (colour, position and motion of both). The world's own
clips of the new scenes pass the same checks (their line is printed beside).

    python benchmarks/restyle.py                    # the shipped sora-mini
    python benchmarks/restyle.py --encoder-order    # the source's object slots as encoded (no Latents.order_given)
    python benchmarks/restyle.py --round-trip       # the most v2v can keep: the source encoded and decoded, judged
                                                    # against its own scene
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace

import torch


def main() -> None:
    from sora_cli.engine import Engine
    from sora_cli.plan import plan_clip
    from sora_cli.research.evaluation import PRESETS, _frames, _make_job, round_trip
    from sora_cli.research.world.captions import caption
    from sora_cli.research.world.checker import binding, check
    from sora_cli.research.world.render import render
    from sora_cli.research.world.scene import random_scene
    from sora_cli.research.world.vocab import OBJECT_COLOURS
    from sora_cli.video_io import Video
    from sora_cli.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--strength", type=float, default=0.7)
    ap.add_argument("--encoder-order", action="store_true",
                    help="leave the source's object slots in the encoder's order (no Latents.order_given)")
    ap.add_argument("--round-trip", action="store_true",
                    help="judge the autoencoder's round trip of each source against its own scene instead")
    args = ap.parse_args()

    model = load_model(args.model, torch.device("cpu"), torch.float32)
    if args.encoder_order:
        model.net.vae.order_given = lambda latents, strength, expected: latents
    engine = Engine(model)
    rng = random.Random(7)
    totals = {"colour": 0, "motion": 0, "bound": 0}
    truth_totals = dict.fromkeys(totals, 0)
    for i in range(args.scenes):
        scene, preset = random_scene(rng, two_objects=1.0, bw=0.0), rng.choice(PRESETS)
        k = i % 2
        taken = {t.colour for t in scene.things} | {scene.background}
        new_colour = rng.choice([c for c in OBJECT_COLOURS if c not in taken])
        things = list(scene.things)
        things[k] = replace(things[k], colour=new_colour)
        new_scene = replace(scene, things=tuple(things))
        prompt = caption(new_scene, rng, held_out=True)
        s = plan_clip(_make_job(prompt, preset, 0, False), model).settings
        source = render(scene, s.width, s.height, 49)[:48]
        if args.round_trip:  # judged against the source's own scene, which the source is the world's clip of
            new_scene, frames, truth = scene, round_trip(model, source), source.numpy()
        else:
            job = _make_job(prompt, preset, 300 + i, False, mode="v2v", video=Video(source, 24.0),
                            strength=args.strength)
            frames, truth = _frames(job, engine), render(new_scene, s.width, s.height, 49)[:48].numpy()
        lines = []
        for name, clip, sums in (("model", frames, totals), ("world", truth, truth_totals)):
            judged = check(clip, new_scene)
            got = {"colour": all(judged[f"{j}.colour"] for j in range(2)),
                   "motion": all(judged[f"{j}.motion"] for j in range(2)),
                   "bound": bool(binding(judged, new_scene))}
            for key, ok in got.items():
                sums[key] += ok
            lines.append(f"{name} " + " ".join(f"{key} {'ok' if ok else '--'}" for key, ok in got.items()))
        what = "round trip" if args.round_trip else f"recoloured the {('first', 'second')[k]} said"
        print(f"{i:3d} {what}; {' | '.join(lines)}: {prompt}", flush=True)
    print(f"of {args.scenes}: " + ", ".join(f"{key} {totals[key]} (world {truth_totals[key]})" for key in totals))


if __name__ == "__main__":
    main()
