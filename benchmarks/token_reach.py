"""How far a DiT's tokens listen to each other: the reach of attention at each noise level.

Drawing one whole object from noise takes tokens that agree: where one token starts to
hold the object, the others must let it and draw background. A DiT that denoises each token
alone (a local denoiser) draws an object wherever its own noise looks like one: a patchwork.
This script moves one token's input (the middle frame, the middle of a 16:9 window) and
prints how much the DiT's output moves there ("own") and, on average, at every other token
of the same frame and of the other frames, as shares of "own". It also prints how much the
clean clip the DiT predicts from pure noise given time t, x0 = x - t v, follows that noise
(its correlation with the noise, over the noises). At t = 1 the noise says nothing, so it
should be 0; below, it grows as each token's own noisy values say more about its content
(benchmarks/decision_times.py gives when), toward 1 where a token denoises alone.

    python benchmarks/token_reach.py                                   # shipped sora-mini
    python benchmarks/token_reach.py --model runs/x/snapshots/min030.0
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

TIMES = (1.0, 0.95, 0.9, 0.8, 0.6)


def reach(model: str, prompt: str, seeds: int) -> list[tuple[float, float, float, float, float]]:
    """-> (t, own, same-frame share, other-frames share, x0-noise correlation) per time, over `seeds` noises."""
    from sora_cli.weights import load_model

    loaded = load_model(model, torch.device("cpu"), torch.float32)
    spec = loaded.spec
    _, ph, pw = spec.dit.patch
    f = spec.vae.spatial_factor
    frames, h, w = loaded.net.vae.latent_frames(spec.window_frames), 80 // f, 144 // f
    mid, y, x = frames // 2, (h // 2) // ph * ph, (w // 2) // pw * pw
    ctx, mask, _ = loaded.encode_text([prompt])
    rows = []
    for t in TIMES:
        own = same = other = 0.0
        noises, cleans = [], []
        for seed in range(seeds):
            gen = torch.Generator().manual_seed(seed)
            z = torch.randn(1, spec.vae.latent_channels, frames, h, w, generator=gen)
            moved = z.clone()
            moved[:, :, mid, y:y + ph, x:x + pw] += 3 * torch.randn(1, spec.vae.latent_channels, ph, pw, generator=gen)
            times = torch.full((1, frames), t)
            with torch.no_grad():
                v = loaded.net.dit(z, times, ctx, mask)
                d = (loaded.net.dit(moved, times, ctx, mask) - v).square().mean(1)[0]
            noises.append(z)
            cleans.append(z - t * v)
            token = d[mid, y:y + ph, x:x + pw]
            own += token.mean().item()
            same += ((d[mid].sum() - token.sum()) / (d[mid].numel() - token.numel())).item()
            other += torch.cat([d[:mid], d[mid + 1:]]).mean().item()
        noise, clean = torch.cat(noises), torch.cat(cleans)
        follows = F.cosine_similarity((noise - noise.mean(0)).flatten(), (clean - clean.mean(0)).flatten(), dim=0)
        rows.append((t, own / seeds, same / own, other / own, follows.item()))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--prompt", default="a red ball bounces on the left")
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"{args.model}: output change from moving one token's input (mean square over channels)")
    print("t      own     each other token, same frame   each token, other frames   x0 follows noise")
    for t, own, same, other, follows in reach(args.model, args.prompt, args.seeds):
        print(f"{t:<6} {own:6.2f} {same:>29.3%} {other:>26.3%} {follows:>18.2f}")


if __name__ == "__main__":
    main()
