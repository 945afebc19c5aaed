"""Throughput of sora-mini's DiT training with and without reusing encoded batches.

Prints, for each --reuse value: seconds per DiT step and clips trained on per second
(a clip or image counts once per step it is trained on), and the share of the time
spent rendering and encoding. Steps draw their sizes at random as training does, so
rows differ by that noise too: use a few hundred steps to compare. Each row starts
from the same weights and an empty pool.

    python benchmarks/bench_train.py                    # reuse 1, 2, 4; 200 steps each
    python benchmarks/bench_train.py --reuse 1 3 --steps 100 --device cuda --batch-scale 16

Uses weights/sora-mini when present, else random weights of the same spec (speed
does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch


def main() -> None:
    from sora_cli.errors import BadInput
    from sora_cli.models.mini.network import VideoModel
    from sora_cli.models.mini.tokenizer import WordTokenizer
    from sora_cli.research.training import loop
    from sora_cli.research.training.data import working_sizes
    from sora_cli.research.training.latent_pool import LatentPool
    from sora_cli.research.world.captions import vocabulary
    from sora_cli.specs import SORA_MINI as spec
    from sora_cli.weights import find_model, load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-scale", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    try:
        state = load_model(str(find_model("sora-mini")), device, torch.float32).net.state_dict()
    except BadInput:
        state = VideoModel(spec).state_dict()
    tok, sizes = WordTokenizer(vocabulary()), working_sizes(spec)
    print(f"{args.steps} DiT steps per row, batch scale {args.batch_scale}, {device}, "
          f"{torch.get_num_threads()} threads")
    for reuse in args.reuse:
        net = VideoModel(spec).to(device)
        net.load_state_dict(state)
        net.vae.requires_grad_(False)
        opt = torch.optim.AdamW(list(net.dit.parameters()) + list(net.text.parameters()), lr=1e-5)
        pool = LatentPool(reuse) if reuse > 1 else None
        rng = random.Random(0)
        encode_s, clips = 0.0, 0
        cfg = loop.TrainConfig(spec, Path("unused"), 1, 0, batch_scale=args.batch_scale)
        loop.dit_step(net, opt, random.Random(1), cfg, tok, device, sizes)  # warm-up
        start = time.perf_counter()
        for _ in range(args.steps):
            if pool is not None and pool.reuse_now(rng):
                batch = pool.draw(rng)
            else:
                t0 = time.perf_counter()
                batch = loop.encode_batch(net, rng, spec, device, sizes, args.batch_scale)
                encode_s += time.perf_counter() - t0
                if pool is not None:
                    pool.add(batch)
            loop.flow_step(net, opt, rng, cfg, tok, device, batch)
            clips += batch.z.shape[0]
        if device.type == "cuda":
            torch.cuda.synchronize()
        total = time.perf_counter() - start
        print(f"reuse {reuse}: {total / args.steps:.3f} s/step, {clips / total:.2f} clips/s, "
              f"render+encode {100 * encode_s / total:.0f}% of the time")


if __name__ == "__main__":
    main()
