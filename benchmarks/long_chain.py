"""Does a 60 s chained clip keep its object? `sora eval`'s long clip over several prompts.

`sora eval` chains one 60 s clip (a circling object, preview size) from its own seed's prompt and judges
each 2 s span's colour, shape and size; one prompt makes that row noisy. This runs the same check for
prompts 0..N-1 (each from its own seed) and prints each clip's figures and their means.

    python benchmarks/long_chain.py                       # the shipped sora-mini, 3 prompts
    python benchmarks/long_chain.py --model runs/long/snapshots/min020.0 --clips 5
"""

from __future__ import annotations

import argparse
import random

import torch


def main() -> None:
    from sora_cli.engine import Engine
    from sora_cli.research.evaluation import long_clip
    from sora_cli.weights import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()

    engine = Engine(load_model(args.model, torch.device("cpu"), torch.float32))
    kept = {"colour": [], "shape": [], "size": []}
    for seed in range(args.clips):
        report = long_clip(engine, random.Random(seed), seed, args.seconds, lambda message: None)
        for attr, values in kept.items():
            values.append(report[f"{attr}_kept"])
        print(f"clip {seed}: " + ", ".join(f"{a} {v[-1]:.2f}" for a, v in kept.items())
              + f" of {report['windows_judged']} spans; colour first / second half "
              f"{report['colour_first_half']:.2f} / {report['colour_second_half']:.2f}", flush=True)
    print("mean kept: " + ", ".join(f"{a} {sum(v) / len(v):.2f}" for a, v in kept.items()))


if __name__ == "__main__":
    main()
