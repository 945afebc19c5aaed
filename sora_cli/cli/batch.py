"""`sora batch FILE`: many clips from a prompt file, resumable."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sora_cli import batch as b
from sora_cli.batch_render import ItemRenderer, Rendered
from sora_cli.cli import options as o
from sora_cli.cli.console import Reporter, errors_as_exit_codes, items_progress
from sora_cli.errors import BadInput, PartialBatch, SoraError, UsageError
from sora_cli.requests import new_seed
from sora_cli.video_io import publish_clip


def batch(file: Annotated[Path, typer.Argument(help="Prompt file (.txt, .jsonl, .yaml, .csv); '-' reads stdin.")],
          out_dir: Annotated[Optional[Path], typer.Option("--out-dir", help="Where clips and manifest.json go.")] = None,
          fmt: Annotated[Optional[str], typer.Option("--format", help="Format of FILE when its name does not say.")] = None,
          preset: o.Preset = None, seed: Annotated[Optional[int], typer.Option(help="Base seed: item i gets seed+i.")] = None,
          steps: o.Steps = None, model: o.Model = "sora-mini", device: o.Device = "auto",
          dtype: o.Dtype = "auto", preview: o.Preview = False, overwrite: o.Overwrite = False,
          json: o.Json = False, quiet: o.Quiet = False,
          ray: Annotated[Optional[str], typer.Option("--ray", help="Run on a Ray cluster: `--ray` alone or `--ray auto` "
                                                     "joins the running one (`ray start`, RAY_ADDRESS), else starts "
                                                     "a local Ray; or give its ADDRESS.")] = None,
          workers: Annotated[Optional[int], typer.Option(min=1, help="With --ray: at most this many workers "
                                                                     "(default: one a CPU, or a GPU on CUDA).")] = None,
          ) -> None:
    """Run every item of a prompt file; failures don't stop the rest; re-running resumes."""
    report = Reporter(quiet)
    with errors_as_exit_codes():
        if workers is not None and ray is None:
            raise UsageError("--workers is for --ray batches")
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
        results = _run_items(items, done, folder, base, str(file), device, dtype, report, ray, workers)
        failed = [r for r in results if r["status"] == "failed"]
        summary = {"manifest": str(folder / b.MANIFEST), "done": len(results) - len(failed),
                   "failed": len(failed), "skipped": len(done), "items": results}
        lines = "\n".join(r["output"] for r in results if r["status"] != "failed")
        report.result(summary, json, lines)
        if failed:
            raise PartialBatch(f"{len(failed)} of {len(results)} items failed; see {folder / b.MANIFEST}")


def _run_items(items: list[b.Item], done: set[int], folder: Path, base: int, source: str,
               device: str, dtype: str, report: Reporter, ray: str | None, workers: int | None) -> list[dict]:
    """Render every item not done, locally or on Ray; the manifest is rewritten (atomically) after each."""
    manifest = {"batch": source, "base_seed": base, "items": []}
    rows = [{"index": i.index, "line": i.line, "prompt": i.request.title, "mode": i.request.kind,
             "output": i.request.output, "seed": i.request.seed,
             "status": "skipped" if i.index in done else "pending"} for i in items]
    manifest["items"] = rows
    b.write_manifest(folder, manifest)
    todo = [i for i in items if i.index not in done]
    by_index = {i.index: i for i in todo}

    def record(result: Rendered) -> None:
        item, row = by_index[result.index], rows[result.index]
        for warning in result.warnings:
            report.warn(f"{source}:{item.line}: {warning}")
        if result.status == "done" and result.clip is not None:
            try:
                publish_clip(Path(item.request.output), result.clip, result.sidecar, item.request.overwrite)
            except SoraError as exc:
                result = Rendered(result.index, "failed", str(exc))
        row["status"] = result.status
        if result.error:
            row["error"] = result.error
            report.note(f"error: {source}:{item.line}: {result.error}")
        b.write_manifest(folder, manifest)

    try:
        if ray is None:
            renderer = ItemRenderer(device, dtype)
            for item in todo:
                report.log(f"[{item.index + 1}/{len(items)}] {item.request.kind}: {item.request.title}")
                with report.progress() as progress:
                    record(renderer.render(item.index, item.request, {"batch_key": item.key}, progress))
        else:
            import torch

            from sora_cli import batch_ray

            # Ray's driver threads print worker and raylet messages to stdout, which carries only
            # the result here: while Ray runs, what it prints goes to stderr.
            with contextlib.redirect_stdout(sys.stderr), batch_ray.session(ray) as joined:
                report.log(f"joined {joined}")
                tasks = batch_ray.tasks_for(todo, lambda item: {"batch_key": item.key})
                with items_progress(report, len(todo)) as update:
                    results = batch_ray.render_on_ray(tasks, device, dtype, workers, torch.get_num_threads(),
                                                      lambda n: report.log(f"{n} Ray workers"))
                    for result in results:
                        record(result)
                        update(sum(r["status"] == "done" for r in rows if r["index"] in by_index),
                               sum(r["status"] == "failed" for r in rows))
    except KeyboardInterrupt:
        for row in rows:
            if row["status"] == "pending":
                row["status"] = "interrupted"
        b.write_manifest(folder, manifest)
        raise
    return rows


RAY_FLAG = "--ray"


def ray_flag_with_address(argv: list[str]) -> list[str]:
    """`--ray` may stand alone (Typer options cannot have optional values): give it "auto"
    unless the next word is an address (auto, host:port, ray://...)."""
    out = list(argv)
    for i, word in enumerate(out):
        if word == RAY_FLAG:
            nxt = out[i + 1] if i + 1 < len(out) else None
            if nxt is None or not (nxt == "auto" or ":" in nxt):
                out.insert(i + 1, "auto")
            break
    return out


def register(app: typer.Typer) -> None:
    app.command()(batch)
