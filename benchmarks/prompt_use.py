"""How much a model's DiT draws on its prompt at each noise level (sora-mini's world).

Renders held-out scenes (the evaluation's prompts), encodes them, noises them to fixed
times t with fixed noise, and prints the DiT's flow-matching error (mean squared error
of the velocity, in latent units) with the true prompt, an empty one and another
scene's prompt, over all latent cells and over the cells that hold an object.

At t = 1 the input is pure noise, so the error on object cells with the true prompt is
what the prompt leaves unknown about where the objects are and what they look like:
the share of the empty prompt's error that the true prompt removes ("prompt removes")
is the figure to watch. A model that lays scenes out from its prompt drives it up.

    python benchmarks/prompt_use.py                           # the shipped sora-mini
    python benchmarks/prompt_use.py --model runs/export --clips 48 --preview
"""

from __future__ import annotations

import argparse

import torch

TIMES = (0.3, 0.6, 0.8, 0.9, 0.95, 1.0)


def main() -> None:
    from sora_cli.frames import to_model
    from sora_cli.presets import get_preset, working_size
    from sora_cli.research.evaluation import PRESETS, held_out_scenes
    from sora_cli.research.training.data import foreground, latent_grid
    from sora_cli.research.world.render import render
    from sora_cli.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="16x9", choices=sorted(PRESETS))
    ap.add_argument("--preview", action="store_true", help="at the preview's half size")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model = load_model(args.model, torch.device("cpu"), torch.float32)
    spec, net = model.spec, model.net
    preset = get_preset(args.preset)
    w, h = working_size(preset.width, preset.height, spec.max_area, spec.size_multiple)
    if args.preview:
        w, h = w // 2, h // 2
    items = held_out_scenes(args.clips, args.seed)
    video = torch.stack([to_model(render(scene, w, h, spec.window_frames)).transpose(0, 1) for scene, _, _ in items])
    prompts = [prompt for _, prompt, _ in items]
    captions = {"true": prompts, "empty": [""] * len(prompts), "wrong": prompts[1:] + prompts[:1]}
    print(f"{model.source}: {args.clips} held-out clips at {w}x{h}, seed {args.seed}; "
          f"velocity error with the true / empty / another scene's prompt")
    with torch.no_grad():
        z = net.vae.encode(video)
        objects = latent_grid(foreground(video), spec.vae.temporal_factor, spec.vae.spatial_factor).expand_as(z)
        noise = torch.randn_like(z)
        context = {name: model.encode_text(texts)[:2] for name, texts in captions.items()}
        for t in TIMES:
            x = (1 - t) * z + t * noise
            times = torch.full(z.shape[:1] + z.shape[2:3], t)
            every, on_objects = {}, {}
            for name, (ctx, mask) in context.items():
                err = (net.dit(x, times, ctx, mask) - (noise - z)) ** 2
                every[name] = err.mean().item()
                on_objects[name] = ((err * objects).sum() / objects.sum()).item()
            removes = 1 - on_objects["true"] / on_objects["empty"]
            print(f"t={t:<4}  all cells {every['true']:.3f} / {every['empty']:.3f} / {every['wrong']:.3f}   "
                  f"object cells {on_objects['true']:.3f} / {on_objects['empty']:.3f} / {on_objects['wrong']:.3f}   "
                  f"prompt removes {100 * removes:.0f}% of the object cells' error")


if __name__ == "__main__":
    main()
