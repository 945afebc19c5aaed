"""Items per minute of one batch file: plain local `sora batch` against Ray with 1 and 2 workers.

Each row runs the same file into a fresh out-dir in a fresh process and times it end to
end (start-up, model loading, every item, writing); the Ray rows include starting a local
Ray. Overhead per item is each Ray row's time per item minus the local row's.

    python benchmarks/bench_batch.py [--items 8] [--model sora-mini] [--workers 1 2]

On a real cluster (see the README), throughput grows with workers until the driver's
writes or the cluster's scheduling become the limit; the overhead row says how far.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(folder: Path, args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sora_cli", "batch", "p.jsonl", *args], cwd=folder,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"batch failed: {proc.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--model", default="sora-mini")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--preset", default="16x9")
    ap.add_argument("--duration", type=float, default=1.0)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    rows = [{"prompt": f"a red ball bounces {i}", "preset": args.preset, "duration": args.duration, "preview": True}
            for i in range(args.items)]
    (folder / "p.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    common = ["--model", args.model, "--seed", "1", "--quiet"]
    results = [("local", run(folder, [*common, "--out-dir", "local"]))]
    for n in args.workers:
        results.append((f"ray, {n} worker{'s' * (n > 1)}", run(folder, [*common, "--out-dir", f"ray{n}", "--ray",
                                                                          "--workers", str(n)])))
    local_per_item = results[0][1] / args.items
    print(f"{args.items} items ({args.preset} preview, {args.duration:g} s each), model {args.model}")
    print(f"{'run':16s} {'seconds':>8s} {'items/min':>10s} {'overhead s/item':>16s}")
    for name, seconds in results:
        per_item = seconds / args.items
        print(f"{name:16s} {seconds:8.1f} {60 / per_item:10.1f} {per_item - local_per_item:16.2f}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
