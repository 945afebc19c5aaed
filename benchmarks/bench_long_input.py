"""Extending a long video: time and peak memory of `sora extend` on a 10-minute input.

Makes a test video (320x180, 24 fps, MINUTES long; ffmpeg's testsrc, cached in the temp
folder), then runs `sora extend long.mp4 "a red ball" --seconds 1` in a fresh
process and prints its wall time and peak resident memory. Only the input's first and last
seconds stay in memory (video_io.KEPT_SECONDS); the rest is streamed from the file into the
output, so memory does not grow with the input's length. The issue's figures before that:
1.96 GB and 69 s for a 10-minute input.

    python benchmarks/bench_long_input.py
    python benchmarks/bench_long_input.py --minutes 2
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    from sora_cli.video_io import ffmpeg

    folder = Path(tempfile.gettempdir()) / "sora-bench-long"
    folder.mkdir(exist_ok=True)
    source = folder / f"long-{args.minutes:g}min.mp4"
    if not source.exists():
        subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc=size=320x180:rate=24:duration={args.minutes * 60:g}", "-pix_fmt", "yuv420p",
                        str(source)], check=True)
    out = folder / "extended.mp4"
    out.unlink(missing_ok=True)
    out.with_suffix(".json").unlink(missing_ok=True)
    start = time.perf_counter()
    sora = [sys.executable, "-c", "from sora_cli.cli.entry import main; main()"]
    proc = subprocess.run([*sora, "extend", str(source), "a red ball", "--seconds", "1", "--seed", "0", "-q",
                           "-o", str(out)],
                          env=os.environ | {"OMP_WAIT_POLICY": "PASSIVE"}, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"sora extend failed with exit code {proc.returncode}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"extend of a {args.minutes:g}-minute 320x180 input by 1 s: {seconds:.1f} s, "
          f"peak memory {peak_mb:.0f} MB, output {out.stat().st_size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
