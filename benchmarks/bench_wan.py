"""Wan2.1-T2V-1.3B on this engine: FLOPs per sampling step and, on a CUDA GPU, seconds per clip.

Prints the DiT's FLOPs per step (both guidance passes) for a 5 s 832x480 clip (81 frames
at 16 fps) and its preview, counted on the meta device, so any machine can print them.
With --cuda it also samples that clip on the GPU in bf16 with random weights of the real
sizes (speed does not depend on the weights' values; the text encoder is left out: it
runs once a clip) and prints seconds per step, per clip (50 steps + VAE decode) and peak
GPU memory. Wan's own figure for the anchor: 261 s on an RTX 4090 for 50 steps.

    python benchmarks/bench_wan.py
    python benchmarks/bench_wan.py --cuda --steps 50
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from sora_cli.models.wan.configs import UMT5Config, WanDiTConfig, WanVAEConfig
from sora_cli.models.wan.model import WanNetworks
from sora_cli.sampler import guided, sample, schedule
from sora_cli.specs import WAN_T2V_1_3B as SPEC

# The released 1.3B model's config.json values (transformer/ and vae/ of the repository).
DIT = WanDiTConfig(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30, text_dim=4096)
VAE = WanVAEConfig()


def latent_shape(width: int, height: int, frames: int) -> tuple[int, ...]:
    return (1, 16, 1 + (frames - 1) // 4, height // 8, width // 8)


def flops_per_step(width: int, height: int, frames: int) -> float:
    """Both guidance passes (one batch of two), one timestep for the clip, as in text-to-video."""
    with torch.device("meta"):
        dit = WanNetworks(DIT, VAE, UMT5Config(num_layers=1, vocab_size=8)).dit.transformer
        x = torch.zeros(2, *latent_shape(width, height, frames)[1:])
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            dit(x, torch.full((2,), 500.0), torch.zeros(2, 512, DIT.text_dim))
    return counter.get_total_flops()


def cuda_clip(width: int, height: int, frames: int, steps: int) -> dict:
    device = torch.device("cuda")
    torch.manual_seed(0)
    with torch.device(device):
        net = WanNetworks(DIT, VAE, UMT5Config(num_layers=1, vocab_size=8)).to(torch.bfloat16).eval()
    ctx = torch.randn(2, 512, DIT.text_dim, device=device, dtype=torch.bfloat16) * 0.1
    mask = torch.ones(2, 512, dtype=torch.bool, device=device)
    shape = latent_shape(width, height, frames)
    noise = torch.randn(shape, device=device, dtype=torch.bfloat16)
    velocity = guided(net.dit, (ctx[:1], mask[:1]), (ctx[1:], mask[1:]), SPEC.guidance)
    strength = torch.zeros(1, shape[2], device=device)
    stamps: list[float] = []

    def on_step(i: int, n: int) -> None:
        torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        sample(velocity, noise[:, :, :2], torch.zeros_like(noise[:, :, :2]), strength[:, :2],
               schedule(2, SPEC.shift, 1.0))  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        latents = sample(velocity, noise, torch.zeros_like(noise), strength, schedule(steps, SPEC.shift, 1.0),
                         on_step)
        torch.cuda.synchronize()
        sampled = time.perf_counter()
        net.vae.decode(latents)
        torch.cuda.synchronize()
        done = time.perf_counter()
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    return {"step_s": gaps[len(gaps) // 2], "sample_s": sampled - start, "decode_s": done - sampled,
            "clip_s": done - start, "peak_gb": torch.cuda.max_memory_allocated() / 2**30,
            "device": torch.cuda.get_device_name()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true", help="also time a clip on the GPU")
    parser.add_argument("--steps", type=int, default=SPEC.steps)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    frames = 1 + 4 * round(args.seconds * SPEC.fps / 4)
    print(f"{SPEC.name}: {frames} frames ({args.seconds:g} s at {SPEC.fps} fps), guidance {SPEC.guidance} (2 passes)")
    for name, (w, h) in (("full", (832, 480)), ("preview", (416, 240))):
        tokens = (1 + (frames - 1) // 4) * (h // 16) * (w // 16)
        print(f"{name:<8} {w}x{h}: {tokens} tokens, {flops_per_step(w, h, frames) / 1e12:.1f} TFLOP/step")
    if args.cuda:
        r = cuda_clip(832, 480, frames, args.steps)
        print(f"{r['device']}: {r['step_s']:.2f} s/step, {args.steps} steps {r['sample_s']:.1f} s, "
              f"VAE decode {r['decode_s']:.1f} s, clip {r['clip_s']:.1f} s, peak {r['peak_gb']:.1f} GB "
              f"(Wan's figure: 261 s on an RTX 4090)")


if __name__ == "__main__":
    main()
