"""`sora batch FILE`: many clips from a prompt file, resumable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sora_cli import batch as b
from sora_cli.cli import options as o
from sora_cli.cli.console import Reporter, errors_as_exit_codes
from sora_cli.clip import make_clip
from sora_cli.engine import Engine
from sora_cli.errors import BadInput, PartialBatch, SoraError
from sora_cli.plan import plan_clip
from sora_cli.requests import build_job, new_seed
from sora_cli.runtime import resolve_device, resolve_dtype
from sora_cli.weights import find_model, load_model


def batch(file: Annotated[Path, typer.Argument(help="Prompt file (.txt, .jsonl, .yaml, .csv); '-' reads stdin.")],
          out_dir: Annotated[Optional[Path], typer.Option("--out-dir", help="Where clips and manifest.json go.")] = None,
          fmt: Annotated[Optional[str], typer.Option("--format", help="Format of FILE when its name does not say.")] = None,
          preset: o.Preset = None, seed: Annotated[Optional[int], typer.Option(help="Base seed: item i gets seed+i.")] = None,
          steps: o.Steps = None, model: o.Model = "sora-mini", device: o.Device = "auto",
          dtype: o.Dtype = "auto", preview: o.Preview = False, overwrite: o.Overwrite = False,
          json: o.Json = False, quiet: o.Quiet = False) -> None:
    """Run every item of a prompt file; failures don't stop the rest; re-running resumes."""
    report = Reporter(quiet)
    with errors_as_exit_codes():
        stdin = sys.stdin.read() if str(file) == "-" else None
        if stdin is not None and not fmt:
            fmt = ".txt"
        items, parse_problems = b.load_batch(file, fmt, stdin)
        folder = out_dir or (Path(f"{file.stem}_clips") if stdin is None else Path("batch_clips"))
        manifest = b.read_manifest(folder)
        base = seed if seed is not None else manifest.get("base_seed", new_seed())
        defaults = {k: v for k, v in dict(preset=preset, steps=steps, model=model, preview=preview,
                                            overwrite=overwrite).items() if v is not None}
        raw_outputs = {i.index: i.request.output for i in items}
        items = b.plan(items, folder, base, defaults)
        done = {i.index for i in items if b.is_complete(i)}
        problems = b.validate(items, file, folder, done, parse_problems, raw_outputs)
        if len(problems) == 1:
            raise BadInput(problems[0])
        if problems:  # every problem on its own line, then how many; nothing was created
            for line in problems:
                typer.echo(f"error: {line}", err=True)
            raise BadInput(f"{len(problems)} problems in {file}; nothing was run")
        folder.mkdir(parents=True, exist_ok=True)
        results = _run_items(items, done, folder, base, str(file), device, dtype, report)
        failed = [r for r in results if r["status"] == "failed"]
        summary = {"manifest": str(folder / b.MANIFEST), "done": len(results) - len(failed),
                   "failed": len(failed), "skipped": len(done), "items": results}
        lines = "\n".join(r["output"] for r in results if r["status"] != "failed")
        report.result(summary, json, lines)
        if failed:
            raise PartialBatch(f"{len(failed)} of {len(results)} items failed; see {folder / b.MANIFEST}")


def _run_items(items: list[b.Item], done: set[int], folder: Path, base: int, source: str,
               device: str, dtype: str, report: Reporter) -> list[dict]:
    manifest = {"batch": source, "base_seed": base, "items": []}
    rows = [{"index": i.index, "line": i.line, "prompt": i.request.prompt, "mode": i.request.mode,
             "output": i.request.output, "seed": i.request.seed,
             "status": "skipped" if i.index in done else "pending"} for i in items]
    manifest["items"] = rows
    b.write_manifest(folder, manifest)
    dev = resolve_device(device)
    loaded = None
    for item, row in zip(items, rows):
        if item.index in done:
            continue
        report.log(f"[{item.index + 1}/{len(items)}] {item.request.mode}: {item.request.prompt}")
        try:
            job, output = build_job(item.request)
            if loaded is None or loaded.source != find_model(job.model):
                loaded = load_model(job.model, dev, resolve_dtype(dtype, dev))
            plan = plan_clip(job, loaded)
            for warning in plan.warnings:
                report.warn(f"{source}:{item.line}: {warning}")
            with report.progress() as progress:
                make_clip(plan, output, Engine(loaded, progress), {"batch_key": item.key})
            row["status"] = "done"
        except SoraError as exc:
            row["status"], row["error"] = "failed", str(exc)
            report.note(f"error: {source}:{item.line}: {exc}")
        except KeyboardInterrupt:
            row["status"] = "interrupted"
            b.write_manifest(folder, manifest)
            raise
        b.write_manifest(folder, manifest)
    return rows


def register(app: typer.Typer) -> None:
    app.command()(batch)
