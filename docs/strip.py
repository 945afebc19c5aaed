"""Frame strips of example prompts, as PNG: the pictures in the README and the model card.

Each row is one seed of one prompt: frames at even times across the clip, at the model's
working size scaled up 2x (nearest), so what the model drew is what you see.

    python docs/strip.py --out docs/examples.png                       # the README's prompts, 5 seeds
    python docs/strip.py --model runs/x/snapshots/min030.0 --seeds 2 --prompts "a red ball bounces on the left"
    python docs/strip.py --storyboard docs/story.yaml --out docs/story.png  # a row per shot
"""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

README_PROMPTS = [
    "a red ball bounces on the left",
    "a large blue square moves right on a sand background",
    "a small yellow triangle falls on a night background",
    "a green ball moves left while a pink box moves right",
]


def strip(model: str, prompts: list[str], seeds: int, columns: int, preset: str, dtype: str,
          guidance: float | None = None, sampler: dict | None = None) -> np.ndarray:
    from sora_cli.engine import Engine
    from sora_cli.plan import plan_clip
    from sora_cli.render import render
    from sora_cli.requests import Request, build_job
    from sora_cli.runtime import resolve_dtype
    from sora_cli.weights import load_model

    device = torch.device("cpu")
    loaded = load_model(model, device, resolve_dtype(dtype, device))
    if sampler:  # the spec's sampler settings overridden (guidance_interval, shift, guidance_focus)
        loaded = replace(loaded, spec=replace(loaded.spec, **sampler))
    engine = Engine(loaded)
    rows = []
    for prompt in prompts:
        for seed in range(seeds):
            job, _ = build_job(Request(mode="generate", prompt=prompt, seed=seed, preset=preset, duration=2.0,
                                       guidance=guidance,
                                       output="/tmp/unused-strip.mp4", model=model, overwrite=True))
            frames = torch.cat([s.frames for s in render(plan_clip(job, loaded), engine)]).numpy()
            picks = np.linspace(0, len(frames) - 1, columns).round().astype(int)
            tiles = [np.pad(frames[i], ((2, 2), (2, 2), (0, 0)), constant_values=255) for i in picks]
            rows.append(np.concatenate(tiles, axis=1))
    grid = np.concatenate(rows, axis=0)
    return grid.repeat(2, axis=0).repeat(2, axis=1)


def storyboard_strip(model: str, path: Path, columns: int, dtype: str) -> np.ndarray:
    """A row per shot of the storyboard at `path`, rendered as `sora storyboard` renders it."""
    from sora_cli.engine import Engine
    from sora_cli.requests import Request
    from sora_cli.runtime import resolve_dtype
    from sora_cli.storyboard import render_storyboard
    from sora_cli.storyboard_clip import storyboard_job
    from sora_cli.weights import load_model

    board, base, _ = storyboard_job(Request(storyboard=str(path), model=model, output="/tmp/unused-strip.mp4",
                                            overwrite=True))
    device = torch.device("cpu")
    loaded = load_model(base.model, device, resolve_dtype(dtype, device))
    rows = []
    for _, _, frames in render_storyboard(board, base, loaded, Engine(loaded)):
        picks = np.linspace(0, len(frames) - 1, columns).round().astype(int)
        rows.append(np.concatenate([np.pad(frames[i].numpy(), ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                    for i in picks], axis=1))
    return np.concatenate(rows, axis=0).repeat(2, axis=0).repeat(2, axis=1)


def write_png(image: np.ndarray, path: Path) -> None:
    from sora_cli.video_io import ffmpeg

    h, w, _ = image.shape
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-i", "-", "-frames:v", "1", str(path)], input=np.ascontiguousarray(image).tobytes(), check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--prompts", nargs="+", default=README_PROMPTS)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--columns", type=int, default=6)
    ap.add_argument("--preset", default="16x9")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--guidance", type=float, help="guidance scale (default: the model's)")
    ap.add_argument("--guidance-interval", type=float, nargs=2, metavar=("LO", "HI"),
                    help="times t (1 = noise) at which guidance applies (default: the model's)")
    ap.add_argument("--shift", type=float, help="the sampler's time shift (default: the model's)")
    ap.add_argument("--guidance-focus", type=float, help="guide only the tokens the prompt pulls hardest "
                                                           "(0: all; default: the model's)")
    ap.add_argument("--storyboard", type=Path, help="a row per shot of this storyboard instead of the prompts")
    ap.add_argument("--out", type=Path, default=Path("docs/examples.png"))
    args = ap.parse_args()
    if args.storyboard:
        image = storyboard_strip(args.model, args.storyboard, args.columns, args.dtype)
    else:
        sampler = {"guidance_interval": tuple(args.guidance_interval) if args.guidance_interval else None,
                   "shift": args.shift, "guidance_focus": args.guidance_focus}
        image = strip(args.model, args.prompts, args.seeds, args.columns, args.preset, args.dtype, args.guidance,
                      {k: v for k, v in sampler.items() if v is not None})
    write_png(image, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
