"""Where in time a model's latents decide the layout, and how much of training and sampling lands there.

A DiT token can tell object from background from its own noisy values once the
log-likelihood ratio between "object here" and "background here",
((1 - t) / t)^2 * |z_obj - z_bg|^2 / 2 for a Gaussian noise of std t, is well above 1.
Before that time, where a scene's objects go must be decided jointly by all tokens (this
is the band where a DiT has to learn to weigh one token's evidence against another's);
after it each token can denoise alone. The script renders world clips, encodes them with
the model's autoencoder, measures |z_obj - z_bg|^2 per latent cell, and prints the ratio of
one token at a range of times, with the share of a recipe's training times and of its
sampler's steps above each time.

    python benchmarks/decision_times.py                                  # shipped sora-mini
    python benchmarks/decision_times.py --model runs/x/snapshots/min010.0 --recipe linear-dit-banded
"""

from __future__ import annotations

import argparse
import random

import torch

TIMES = (0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)


def object_distances(model: str, clips: int, seed: int) -> tuple[torch.Tensor, int]:
    """Squared distances of object cells from their clip's background cell, in the DiT's units; cells a token."""
    from sora_cli.research.training.data import clip_batch, foreground, latent_grid
    from sora_cli.weights import load_model

    loaded = load_model(model, torch.device("cpu"), torch.float32)
    spec = loaded.spec
    batch = clip_batch(random.Random(seed), spec, clips, spec.window_frames, (144, 80))
    with torch.no_grad():
        z = loaded.net.vae.encode(batch.video)  # (B, C, L, h, w), normalised as the DiT sees it
    objects = latent_grid(foreground(batch.video), spec.vae.temporal_factor, spec.vae.spatial_factor)[:, 0]
    out = []
    for zi, oi in zip(z, objects):
        cells = zi.permute(1, 2, 3, 0)  # (L, h, w, C)
        background = cells[oi < 0.01].median(0).values
        out.append((cells - background).square().sum(-1)[oi > 0.3])
    _, ph, pw = spec.dit.patch
    return torch.cat(out), ph * pw


def main() -> None:
    from pathlib import Path

    from sora_cli.research.training.loop import TrainConfig, sample_times
    from sora_cli.research.training.recipes import recipe
    from sora_cli.sampler import schedule

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--recipe", help="also print the share of this recipe's training times and sampling steps")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    d2, cells = object_distances(args.model, args.clips, args.seed)
    median = d2.median().item()
    print(f"{args.model}: {len(d2)} object cells, |z_obj - z_bg|^2 median {median:.1f} "
          f"(10% {d2.quantile(0.1).item():.1f}, 90% {d2.quantile(0.9).item():.1f}); {cells} cells a token")
    shares = None
    if args.recipe:
        spec, settings = recipe(args.recipe)
        cfg = TrainConfig(spec=spec, out=Path("unused"), minutes=0, **({"vae_minutes": 0.0} | settings))
        drawn = sample_times(cfg, 200_000, torch.device("cpu"))
        steps = schedule(spec.steps, spec.shift)[:-1]  # the times the sampler evaluates the DiT at
        shares = (drawn, steps)
        print(f"recipe {args.recipe}: time_mean {cfg.time_mean}, shift {spec.shift}, {spec.steps} steps")
    print("t      median token LLR   trained above t   sampling steps above t")
    for t in TIMES:
        llr = ((1 - t) / t) ** 2 * median / 2 * cells
        row = f"{t:<6} {llr:>17.2f}"
        if shares:
            row += f" {(shares[0] > t).float().mean().item():>17.1%} {int((shares[1] > t).sum()):>24}"
        print(row)


if __name__ == "__main__":
    main()
