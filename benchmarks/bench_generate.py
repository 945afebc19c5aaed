"""Speed and memory of `sora generate` per preset, full size and --preview.

Prints, per preset and mode: seconds per clip (after the model is loaded), seconds
per sampling step, peak resident memory of the process, the DiT's FLOPs per step
(both guidance passes) and the fraction of this machine's measured fp32 matmul peak
that the sampling steps reach. Each case runs in a fresh process so peaks don't mix.

    python benchmarks/bench_generate.py                 # every preset, 2 s clips
    python benchmarks/bench_generate.py --presets 16x9 --duration 2
    python benchmarks/bench_generate.py --presets 16x9 --duration 4 --dtypes float32 bfloat16 --full-only

Uses weights/sora-mini when present, else random weights of the same spec (speed
does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def matmul_peak_gflops(n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def model_dir() -> str:
    from sora_cli.errors import BadInput
    from sora_cli.weights import find_model

    try:
        return str(find_model("sora-mini"))
    except BadInput:
        from sora_cli.models.mini.folder import save_model
        from sora_cli.models.mini.network import VideoModel
        from sora_cli.models.mini.tokenizer import WordTokenizer
        from sora_cli.specs import SORA_MINI

        folder = Path(tempfile.mkdtemp()) / "sora-mini-random"
        save_model(VideoModel(SORA_MINI), SORA_MINI, WordTokenizer(["a", "red", "ball"]), folder)
        return str(folder)


def run_case(model: str, preset: str, duration: float, preview: bool, dtype: str) -> dict:
    """In a child process: load, then one clip; reports timings as JSON on stdout."""
    from sora_cli.clip import make_clip
    from sora_cli.engine import Engine
    from sora_cli.plan import plan_clip
    from sora_cli.requests import Request, build_job
    from sora_cli.sampler import guided
    from sora_cli.weights import load_model

    torch.manual_seed(0)
    t0 = time.perf_counter()
    m = load_model(model, torch.device("cpu"), getattr(torch, dtype))
    load_s = time.perf_counter() - t0
    out = Path(tempfile.mkdtemp()) / "bench.mp4"
    job, output = build_job(Request(mode="generate", prompt="a red ball bounces on the left", seed=1, preset=preset,
                                    duration=duration, model=model, output=str(out), preview=preview))
    plan = plan_clip(job, m)
    stamps: list[float] = []
    engine = Engine(m, lambda window, step, steps: stamps.append(time.perf_counter()))
    result = make_clip(plan, output, engine)
    step_gaps = [b - a for a, b in zip(stamps, stamps[1:]) if b - a > 0]
    step_s = sorted(step_gaps)[len(step_gaps) // 2] if step_gaps else float("nan")

    s = plan.settings
    vf = m.spec.vae.spatial_factor
    lat = (1, m.spec.vae.latent_channels, m.net.vae.latent_frames(m.spec.window_frames), s.height // vf, s.width // vf)
    ctx, mask, _ = m.encode_text(["a red ball", ""])
    velocity = guided(m.net.dit, (ctx[:1], mask[:1]), (ctx[1:], mask[1:]), s.guidance)
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        velocity(torch.randn(lat), torch.rand(1, lat[2]))
    return {"preset": preset, "preview": preview, "dtype": dtype, "size": f"{result['width']}x{result['height']}",
            "working": f"{s.width}x{s.height}", "frames": result["frames"], "steps": s.steps,
            "load_s": load_s, "clip_s": result["seconds"], "step_s": step_s,
            "flops_per_step": counter.get_total_flops(),
            # Python's own peak plus ffmpeg's (a child): an upper bound of the clip's peak.
            "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", help="presets to run (default: all)")
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "bfloat16"],
                        help="bfloat16: autocast over float32 weights, as --dtype bfloat16 on a CPU")
    parser.add_argument("--full-only", action="store_true", help="skip the --preview cases")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    if args.child:
        model, preset, preview, dtype = args.child.split("|")
        print(json.dumps(run_case(model, preset, args.duration, preview == "1", dtype)))
        return

    from sora_cli.presets import load_presets

    presets = args.presets or list(load_presets())
    model = model_dir()
    peak = matmul_peak_gflops()
    print(f"model: {model}\nmachine fp32 matmul peak: {peak:.0f} GFLOP/s on {os.cpu_count()} cores\n")
    header = f"{'preset':<10} {'mode':<8} {'dtype':<9} {'output':>10} {'working':>8} {'frames':>6} {'steps':>5} " \
             f"{'clip s':>7} {'s/step':>7} {'peak MB':>8} {'GFLOP/step':>10} {'% peak':>6}"
    print(header)
    rows = []
    modes = (False,) if args.full_only else (True, False)
    cases = [(preset, preview, dtype) for preset in presets for preview in modes for dtype in args.dtypes]
    for preset, preview, dtype in cases:
        proc = subprocess.run([sys.executable, __file__, "--child", f"{model}|{preset}|{int(preview)}|{dtype}",
                               "--duration", str(args.duration)], stdout=subprocess.PIPE, text=True)
        if proc.returncode:
            print(f"{preset}: failed")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["pct_peak"] = 100 * row["flops_per_step"] / row["step_s"] / 1e9 / peak
        rows.append(row)
        print(f"{preset:<10} {'preview' if preview else 'full':<8} {dtype:<9} {row['size']:>10} {row['working']:>8} "
              f"{row['frames']:>6} {row['steps']:>5} {row['clip_s']:>7.2f} {row['step_s']:>7.3f} "
              f"{row['peak_mb']:>8.0f} {row['flops_per_step'] / 1e9:>10.2f} {row['pct_peak']:>6.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
