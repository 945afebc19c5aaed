"""Time from `sora generate` to the first sampling step, and where it goes.

Each row runs in a fresh Python process (imports are the point): importing the CLI,
finding and verifying the weights (SHA256SUMS), building and loading the networks,
reading presets and planning the clip, encoding the prompt, and the first DiT step.

    python benchmarks/bench_startup.py [--model sora-mini] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
marks = {}
import torch
marks["import torch"] = time.perf_counter()
from sora_cli.cli import app  # noqa: F401  (everything the CLI imports)
marks["import the CLI"] = time.perf_counter()
from sora_cli.engine import Engine
from sora_cli.plan import plan_clip
from sora_cli.requests import Request, build_job
from sora_cli.runtime import resolve_device, resolve_dtype
from sora_cli.weights import find_model, load_model
from sora_cli.checksums import verify_checksums
folder = find_model(sys.argv[1])
if (folder / "SHA256SUMS").is_file():
    verify_checksums(folder)
marks["verify checksums"] = time.perf_counter()
dev = resolve_device("auto")
model = load_model(sys.argv[1], dev, resolve_dtype("auto", dev))
marks["load weights (checksums again)"] = time.perf_counter()
job, out = build_job(Request(mode="generate", prompt="a red ball bounces on the left", seed=1, preset="16x9",
                             output=sys.argv[2]))
plan = plan_clip(job, model)
marks["plan the clip"] = time.perf_counter()
first = []
def progress(window, step, steps):
    if not first:
        first.append(time.perf_counter())
        raise SystemExit
engine = Engine(model, progress)
engine._contexts(plan.settings)
marks["encode the prompt"] = time.perf_counter()
try:
    engine.window(plan.settings, 49, [])
except SystemExit:
    pass
marks["first step"] = first[0]
prev, rows = t0, {}
for name, t in marks.items():
    rows[name] = round(t - prev, 3)
    prev = t
rows["total"] = round(prev - t0, 3)
print(json.dumps(rows))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = []
    for i in range(args.runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, args.model, f"/tmp/bench-startup-{i}.mp4"],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["process (incl. interpreter)"] = round(time.perf_counter() - start, 3)
        runs.append(row)
    print(f"{args.model}: seconds per phase, median of {args.runs} fresh processes")
    for name in runs[0]:
        values = sorted(r[name] for r in runs)
        print(f"  {name:32s} {values[len(values) // 2]:7.3f}")


if __name__ == "__main__":
    main()
