"""Wan on this engine: FLOPs per sampling step, our networks against diffusers', GPU seconds.

Prints the DiT's FLOPs per step (both guidance passes) for a 5 s clip at each Wan model's
native size and its preview, counted on the meta device, so any machine can print them.

--against-diffusers times, side by side in this process on this CPU, a forward step of our
Wan transformer and a chunked decode of our Wan2.2 autoencoder against diffusers' classes
with the same random weights of the real widths (few layers, a small latent), in float32
and (where the CPU multiplies bf16 natively) bfloat16: the fastest of --reps alternating
calls each, their ratio, the peak memory each call's tensors held (torch's profiler), our
FLOPs per step and the fraction of this CPU's best measured matmul rate that a step reaches.

With --cuda it also samples the Wan2.1 clip on the GPU in bf16 with random weights of the real
sizes (speed does not depend on the weights' values; the text encoder is left out: it
runs once a clip) and prints seconds per step, per clip (50 steps + VAE decode) and peak
GPU memory. Wan's own figure for the anchor: 261 s on an RTX 4090 for 50 steps.

    python benchmarks/bench_wan.py
    python benchmarks/bench_wan.py --against-diffusers
    python benchmarks/bench_wan.py --cuda --steps 50
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from sora_cli.models.wan.configs import UMT5Config, WanDiTConfig, WanVAEConfig
from sora_cli.models.wan.dit import WanTransformer
from sora_cli.models.wan.model import WanNetworks
from sora_cli.models.wan.vae import WanVAE
from sora_cli.sampler import guided, sample, schedule
from sora_cli.specs import WAN_T2V_1_3B as SPEC
from sora_cli.specs import WAN_TI2V_5B, ModelSpec

# The released models' config.json values (transformer/ and vae/ of the repositories).
DIT = WanDiTConfig(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30, text_dim=4096)
VAE = WanVAEConfig()
DIT_5B = WanDiTConfig(num_attention_heads=24, attention_head_dim=128, ffn_dim=14336, num_layers=30, text_dim=4096,
                      in_channels=48, out_channels=48)
VAE_5B = WanVAEConfig(base_dim=160, decoder_base_dim=256, z_dim=48, is_residual=True, patch_size=2, in_channels=12,
                      out_channels=12, latents_mean=(0.0,) * 48, latents_std=(1.0,) * 48)
MODELS: dict[str, tuple[ModelSpec, WanDiTConfig, WanVAEConfig]] = {
    SPEC.name: (SPEC, DIT, VAE), WAN_TI2V_5B.name: (WAN_TI2V_5B, DIT_5B, VAE_5B)}


def latent_shape(spec: ModelSpec, width: int, height: int, frames: int) -> tuple[int, ...]:
    f = spec.vae.spatial_factor
    return (1, spec.vae.latent_channels, 1 + (frames - 1) // 4, height // f, width // f)


def flops_per_step(spec: ModelSpec, dit: WanDiTConfig, width: int, height: int, frames: int, batch: int = 2) -> float:
    """Both guidance passes (one batch of two), one timestep for the clip, as in text-to-video."""
    with torch.device("meta"):
        net = WanTransformer(dit)
        x = torch.zeros(batch, *latent_shape(spec, width, height, frames)[1:])
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(x, torch.full((batch,), 500.0), torch.zeros(batch, 512, dit.text_dim))
    return counter.get_total_flops()


def peak_mb(fn) -> float:
    """Peak of the memory that tensors held during one fn() call, in MB, from torch's profiler
    (every allocation and free in order: exact, where sampling the resident size missed short
    peaks and counted the allocator's caches)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak / 2**20


def side_by_side(ours, ref, reps: int) -> tuple[float, float]:
    """Fastest of `reps` calls of each, alternating (this CPU's speed drifts by 10-20% between
    runs; alternating keeps a drift from favouring either)."""
    ours(), ref()
    times: dict[str, list[float]] = {"ours": [], "ref": []}
    for _ in range(reps):
        for name, fn in (("ours", ours), ("ref", ref)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return min(times["ours"]), min(times["ref"])


def matmul_peak_gflops(dtype: torch.dtype, n: int = 2048, seconds: float = 3.0) -> float:
    """The best rate of square matmuls over about `seconds` (a CPU that emulates bf16 takes
    minutes for one at 2048, so those are measured at 256)."""
    n = n if matmul_rate(dtype, 256, 0.5) > 20 else 256
    return matmul_rate(dtype, n, seconds)


def matmul_rate(dtype: torch.dtype, n: int, seconds: float) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds or best == 0.0:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def transformer_pair(layers: int, dtype: torch.dtype, with_ref: bool = True):
    """(ours, diffusers') Wan2.2-5B-wide transformers of `layers` layers with the same random weights,
    and a forward of each on a 448x256 clip of 17 frames (560 tokens) as callables."""
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    cfg = dataclasses.replace(DIT_5B, num_layers=layers)
    ref = WanTransformer3DModel(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}).eval()
    ours = WanTransformer(cfg).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.to(dtype), ours.to(dtype)
    for name, module in ref.named_modules():  # as diffusers' from_pretrained(torch_dtype=...) keeps them
        if any(keep in name.split(".") for keep in ref._keep_in_fp32_modules):
            module.float()
    x = torch.randn(1, 48, 5, 16, 28, dtype=dtype)
    text = (torch.randn(1, 512, cfg.text_dim) * 0.1).to(dtype)
    t = torch.full((1,), 700.0)
    return (torch.no_grad()(lambda: ours(x, t, text)), torch.no_grad()(lambda: ref(x, t, text, return_dict=False)),
            (cfg, x, t, text))


def vae_pair(dtype: torch.dtype):
    """(ours, diffusers') Wan2.2 VAE decodes, one latent frame at a time, of 5 frames of 96x64."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    fields = {f.name: getattr(VAE_5B, f.name) for f in dataclasses.fields(VAE_5B)}
    ref = AutoencoderKLWan(**{k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()},
                           scale_factor_spatial=16).eval()
    ours = WanVAE(VAE_5B).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.to(dtype), ours.to(dtype)
    z = torch.randn(1, 48, 2, 4, 6, dtype=dtype)
    return torch.no_grad()(lambda: ours.decode_raw(z, 1)), torch.no_grad()(lambda: ref.decode(z).sample)


def against_diffusers(layers: int, reps: int) -> None:
    """Our transformer and Wan2.2 VAE against diffusers' on the same weights and inputs."""
    peaks = {d: matmul_peak_gflops(d) for d in (torch.float32, torch.bfloat16)}
    print(f"this CPU ({torch.get_num_threads()} threads): best matmul rate fp32 {peaks[torch.float32]:.0f} GFLOP/s, "
          f"bf16 {peaks[torch.bfloat16]:.1f} GFLOP/s")
    # Without native bf16 (AMX or AVX512-BF16) torch emulates it, far slower than fp32: nobody
    # would run Wan that way on such a CPU, so only fp32 is compared there.
    dtypes = [torch.float32] + ([torch.bfloat16] if peaks[torch.bfloat16] > peaks[torch.float32] else [])
    if len(dtypes) == 1:
        print("  no native bf16 matmuls on this CPU: comparing float32 only")
    for dtype in dtypes:
        name = str(dtype).removeprefix("torch.")
        ours, ref, (cfg, x, t, text) = transformer_pair(layers, dtype)
        with torch.device("meta"), torch.no_grad(), FlopCounterMode(display=False) as counter:
            # counted in float32 (the count does not depend on the dtype; a bf16 input into the
            # float32 meta net would not run)
            WanTransformer(cfg)(x.to("meta", torch.float32), t.to("meta"), text.to("meta", torch.float32))
        flops = counter.get_total_flops()
        o_s, r_s = side_by_side(ours, ref, reps)
        o_mb, r_mb = peak_mb(ours), peak_mb(ref)
        print(f"transformer, Wan2.2-TI2V-5B widths, {layers} of its 30 layers, 560 tokens, {flops / 1e9:.0f} GFLOP, "
              f"{name}: ours {o_s * 1e3:.0f} ms {o_mb:.0f} MB | diffusers {r_s * 1e3:.0f} ms {r_mb:.0f} MB | "
              f"time ours/diffusers {o_s / r_s:.3f}x | ours {flops / o_s / 1e9:.0f} GFLOP/s, "
              f"{flops / o_s / 1e9 / peaks[dtype]:.0%} of this CPU's best {name} matmul rate")
        ours, ref = vae_pair(dtype)
        o_s, r_s = side_by_side(ours, ref, reps)
        o_mb, r_mb = peak_mb(ours), peak_mb(ref)
        print(f"VAE decode, Wan2.2 (all layers), 5 frames of 96x64 one latent frame at a time, {name}: "
              f"ours {o_s:.2f} s {o_mb:.0f} MB | diffusers {r_s:.2f} s {r_mb:.0f} MB | time ours/diffusers "
              f"{o_s / r_s:.3f}x")
    full = flops_per_step(WAN_TI2V_5B, DIT_5B, 1280, 704, 121)
    best = max(dtypes, key=lambda d: peaks[d])
    print(f"a full Wan2.2-TI2V-5B step (1280x704, 121 frames, both guidance passes): {full / 1e12:.0f} TFLOP, "
          f"at least {full / (peaks[best] * 1e9) / 60:.0f} min at this CPU's best {str(best).removeprefix('torch.')} "
          f"matmul rate")


def cuda_clip(width: int, height: int, frames: int, steps: int) -> dict:
    device = torch.device("cuda")
    torch.manual_seed(0)
    with torch.device(device):
        net = WanNetworks(DIT, VAE, UMT5Config(num_layers=1, vocab_size=8)).to(torch.bfloat16).eval()
    ctx = torch.randn(2, 512, DIT.text_dim, device=device, dtype=torch.bfloat16) * 0.1
    mask = torch.ones(2, 512, dtype=torch.bool, device=device)
    shape = latent_shape(SPEC, width, height, frames)
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
    parser.add_argument("--against-diffusers", action="store_true",
                        help="time our transformer and VAE against diffusers' on this CPU")
    parser.add_argument("--layers", type=int, default=2, help="transformer layers for --against-diffusers")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=SPEC.steps)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    for spec, dit, _ in MODELS.values():
        frames = 1 + 4 * round(args.seconds * spec.fps / 4)
        print(f"{spec.name}: {frames} frames ({args.seconds:g} s at {spec.fps} fps), guidance {spec.guidance} "
              f"(2 passes)")
        w, h = spec.native_sizes[0]
        for name, (w, h) in (("full", (w, h)), ("preview", (w // 2, h // 2))):
            cell = 2 * spec.vae.spatial_factor  # a token is 2x2 latent cells
            tokens = (1 + (frames - 1) // 4) * (h // cell) * (w // cell)
            print(f"  {name:<8} {w}x{h}: {tokens} tokens, {flops_per_step(spec, dit, w, h, frames) / 1e12:.1f} "
                  f"TFLOP/step")
    if args.against_diffusers:
        against_diffusers(args.layers, args.reps)
    if args.cuda:
        frames = 1 + 4 * round(args.seconds * SPEC.fps / 4)
        r = cuda_clip(832, 480, frames, args.steps)
        print(f"{r['device']}: {r['step_s']:.2f} s/step, {args.steps} steps {r['sample_s']:.1f} s, "
              f"VAE decode {r['decode_s']:.1f} s, clip {r['clip_s']:.1f} s, peak {r['peak_gb']:.1f} GB "
              f"(Wan's figure: 261 s on an RTX 4090)")


if __name__ == "__main__":
    main()
