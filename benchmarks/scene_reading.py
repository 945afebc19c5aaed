"""What a scene-latent model (sora-mini) reads from its prompts: objects counted, and camera moves.

Two checks the attribute evaluation (`sora eval`) does not isolate:

- objects: for the two-object prompts among `sora eval`'s held-out ones (same seed, same prompts), how
  many clips the DiT draws with both object slots present (the median over frames of slot 1's present
  flag above 0). v13 drew one object for 14 of 20: it counted from the joining word, and the held-out
  template's "; meanwhile" is never trained on (docs/sora-mini-bakeoff.md, round eleven).
- camera: held-out captions of scenes whose camera pans or zooms, generated at full size and judged from
  their pixels by the world's camera checker; the true clips of the same scenes are judged beside them.

    python benchmarks/scene_reading.py                        # the shipped sora-mini
    python benchmarks/scene_reading.py --model runs/pan/snapshots/min020.0 --camera-clips 0
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

import torch

MOVES = ("pan left", "pan right", "zoom in", "zoom out")


def main() -> None:
    from sora_cli.engine import Engine
    from sora_cli.models.mini.frame_latents import BACKGROUND, PRESENT, SLOT
    from sora_cli.plan import plan_clip
    from sora_cli.research.evaluation import PRESETS, _frames, _make_job, held_out_scenes
    from sora_cli.research.storyboard_eval import _camera_is
    from sora_cli.research.world.captions import caption
    from sora_cli.research.world.render import render
    from sora_cli.research.world.scene import random_scene
    from sora_cli.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--prompts", type=int, default=40,
                    help="sora eval's held-out prompts to take the two-object ones of")
    ap.add_argument("--camera-clips", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    model = load_model(args.model, torch.device("cpu"), torch.float32)
    if model.spec.vae.kind != "frame":
        raise SystemExit(f"{args.model} has no scene latents to read slots from")
    engine = Engine(model)
    vae, seen = model.net.vae, {}
    settle = vae.settle

    def spy(latents, strength, joined):  # the window's latents as sampled, before settle holds them
        seen["z"] = vae.denormalise(latents)
        return settle(latents, strength, joined)

    vae.settle = spy
    both = pairs = 0
    for i, (scene, prompt, preset) in enumerate(held_out_scenes(args.prompts, args.seed)):
        if len(scene.things) < 2:
            continue
        _frames(_make_job(prompt, preset, args.seed + i, False), engine)
        present = seen["z"][0, BACKGROUND + SLOT + PRESENT, :, 0, 0]
        pairs += 1
        both += bool(present.median() > 0)
    print(f"objects: both slots drawn for {both} of {pairs} two-object held-out prompts")

    rng = random.Random(args.seed + 11)
    made, judged, truth = Counter(), Counter(), Counter()
    while sum(made.values()) < args.camera_clips:
        scene = random_scene(rng, two_objects=0.3, bw=0.0, camera=1.0, cut=0.0)
        move = scene.camera.move
        if move not in MOVES:
            continue
        prompt, preset = caption(scene, rng, held_out=True), rng.choice(PRESETS)
        job = _make_job(prompt, preset, args.seed + sum(made.values()), False)
        frames = _frames(job, engine)
        s = plan_clip(job, model).settings
        made[move] += 1
        judged[move] += _camera_is(frames, move)
        truth[move] += _camera_is(render(scene, s.width, s.height, frames.shape[0]).numpy(), move)
    if made:
        row = ", ".join(f"{m} {judged[m]}/{made[m]}" for m in MOVES if made[m])
        print(f"camera: {sum(judged.values())} of {sum(made.values())} moves judged right ({row}); "
              f"true clips {sum(truth.values())} of {sum(made.values())}")


if __name__ == "__main__":
    main()
