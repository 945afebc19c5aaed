"""How much of a hidden token a DiT infers from the rest of its clip: the skill token masking trains.

Drawing one whole object takes tokens that agree, and a token can only agree with what it reads
from the others. This script hides a share of the tokens of held-out clips (pure noise at t = 1,
with the mask flag of research/training/token_masking.py when the checkpoint has one), noises the
rest to time t, and compares the DiT's clean prediction at the hidden cells with the truth:

- object cells: 1 - error / (error of drawing the background there). 0 means the DiT fills a
  hidden part of an object with background; 1 means it draws the object's part exactly.
- background cells: the mean square error there (in the DiT's latent units).

    python benchmarks/infill.py --checkpoint runs/masked-objects --recipe linear-dit-masked-objects
    python benchmarks/infill.py --checkpoint runs/banded --recipe linear-dit-banded --png infill.png

It reads a training checkpoint (for the flag, which model folders do not carry), and the spec
from the recipe that trained it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

TIMES = (0.3, 0.6, 0.9)


def infill(checkpoint: Path, recipe_name: str, clips: int, ratio: float, png: Path | None = None) -> list[tuple]:
    """-> (t, object completion with flag, without flag, background error with flag) per time."""
    from safetensors.torch import load_file

    from sora_cli.frames import to_model, to_uint8
    from sora_cli.models.interface import batch_ids
    from sora_cli.models.mini.network import VideoModel
    from sora_cli.models.mini.tokenizer import WordTokenizer
    from sora_cli.noise import draw as draw_noise
    from sora_cli.research.evaluation import held_out_scenes
    from sora_cli.research.training.checkpoint import section
    from sora_cli.research.training.data import foreground, latent_grid
    from sora_cli.research.training.recipes import recipe
    from sora_cli.research.training.token_masking import TokenMasking
    from sora_cli.research.world.captions import vocabulary
    from sora_cli.research.world.render import render as render_world

    spec = recipe(recipe_name)[0]
    net = VideoModel(spec)
    tensors = load_file(str(checkpoint / "checkpoint.safetensors"))
    net.load_state_dict(section(tensors, "ema"))
    masking = TokenMasking(spec.dit.dim, ratio)
    has_flag = bool(section(tensors, "masking"))
    if has_flag:
        masking.load_state_dict(section(tensors, "masking"))
    tok = WordTokenizer(vocabulary())
    tf, sf = spec.vae.temporal_factor, spec.vae.spatial_factor
    # Each clip, its noise and its mask once: every time t judges the same hidden cells.
    prepared = []
    for i, (scene, prompt, _) in enumerate(held_out_scenes(clips, 0)):
        frames = render_world(scene, 144, 80, spec.window_frames)
        video = to_model(frames).permute(1, 0, 2, 3)[None]
        z = net.vae.encode(video)
        objects = latent_grid(foreground(video), tf, sf).bool().expand_as(z)
        background = z.masked_fill(objects, float("nan")).flatten(2).nanmedian(dim=2).values[..., None, None, None]
        gen = torch.Generator().manual_seed(i)
        noise = draw_noise(z.shape, spec.noise, gen)  # what the recipe trains on
        cells, flag = masking.hide(z.shape, spec.dit.patch, gen)
        cells = cells.expand_as(z)
        ids, mask, _ = batch_ids(tok, [prompt], spec.text.max_tokens)
        obj = cells & objects
        prepared.append((frames, z, noise, cells, flag if has_flag else None, net.text(ids, mask), mask, obj,
                         cells & ~objects, (background.expand_as(z) - z)[obj].square().sum().item()))
    rows, pictures = [], []
    for t in TIMES:
        sums = {"obj_flag": 0.0, "obj_none": 0.0, "obj_bg": 0.0, "bg_flag": 0.0, "bg_cells": 0.0}
        for i, (frames, z, noise, cells, flag, ctx, mask, obj, bg, obj_bg) in enumerate(prepared):
            x = torch.where(cells, noise, (1 - t) * z + t * noise)
            times = torch.full((1, z.shape[2]), t)
            clean = {}
            for name, extra in (("flag", flag), ("none", None)):
                out = net.dit.network(x, times, ctx, mask, extra)
                v = out if spec.dit.predicts == "velocity" else (x - out) / t
                clean[name] = torch.where(cells, noise - v, x - t * v)
            sums["obj_flag"] += (clean["flag"] - z)[obj].square().sum().item()
            sums["obj_none"] += (clean["none"] - z)[obj].square().sum().item()
            sums["obj_bg"] += obj_bg
            sums["bg_flag"] += (clean["flag"] - z)[bg].square().sum().item()
            sums["bg_cells"] += bg.sum().item()
            if png is not None and t == 0.6 and i < 6:
                mid = frames.shape[0] // 2
                shown = to_uint8(net.vae.decode(torch.where(cells, torch.zeros(()), x))[0].permute(1, 0, 2, 3))
                tiles = [frames[mid], shown[mid], to_uint8(net.vae.decode(clean["flag"])[0].permute(1, 0, 2, 3))[mid]]
                pictures.append(np.concatenate([np.pad(a.numpy(), ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                                for a in tiles], 1))
        rows.append((t, 1 - sums["obj_flag"] / sums["obj_bg"], 1 - sums["obj_none"] / sums["obj_bg"],
                     sums["bg_flag"] / max(sums["bg_cells"], 1)))
    if png is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
        from strip import write_png

        write_png(np.concatenate(pictures).repeat(2, 0).repeat(2, 1), str(png))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True, help="a training run's folder")
    ap.add_argument("--recipe", required=True, help="the recipe that trained it (for its spec)")
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--ratio", type=float, default=0.3, help="share of tokens hidden")
    ap.add_argument("--png", type=Path, help="also write truth | what the DiT sees | its prediction, at t = 0.6")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"{args.checkpoint}: hidden tokens ({args.ratio:.0%}) inferred from the rest, {args.clips} held-out clips")
    print("t      object completion (flag)   (no flag)   background error (flag)")
    for t, flag, none, bg in infill(args.checkpoint, args.recipe, args.clips, args.ratio, args.png):
        print(f"{t:<6} {flag:>25.3f} {none:>11.3f} {bg:>24.3f}")


if __name__ == "__main__":
    main()
