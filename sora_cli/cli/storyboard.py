"""`sora storyboard`: several shots, joined by `continue` or `cut`, in one clip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sora_cli.cli import options as o
from sora_cli.cli.console import Reporter, errors_as_exit_codes
from sora_cli.engine import Engine
from sora_cli.errors import BadInput
from sora_cli.requests import Request
from sora_cli.runtime import resolve_device, resolve_dtype
from sora_cli.storyboard_clip import make_storyboard_clip, storyboard_job
from sora_cli.weights import load_model


def storyboard(file: Annotated[Path, typer.Argument(help="Storyboard YAML: shots, each a prompt, seconds and "
                                                         "join (continue or cut).")],
               shot: Annotated[Optional[int], typer.Option(min=1, help="Render only shot N (1-based), exactly "
                                                                       "as it appears in the whole clip.")] = None,
               preset: o.Preset = None, width: o.Width = None, height: o.Height = None, fps: o.Fps = None,
               seed: o.Seed = None, steps: o.Steps = None, guidance: o.Guidance = None,
               negative: o.Negative = None, model: Annotated[Optional[str], typer.Option(
                   "--model", "-m", help="Model name or folder (default: the file's, else sora-mini).")] = None,
               device: o.Device = "auto", dtype: o.Dtype = "auto", output: o.Output = None,
               overwrite: o.Overwrite = False, preview: o.Preview = False, json: o.Json = False,
               quiet: o.Quiet = False) -> None:
    """Several shots in one clip: each continues the one before, or cuts to a new one."""
    report = Reporter(quiet)
    with errors_as_exit_codes():
        request = Request(storyboard=str(file), seed=seed, preset=preset, width=width, height=height, fps=fps,
                          steps=steps, guidance=guidance, negative=negative, model=model or Request().model,
                          preview=preview, overwrite=overwrite,
                          output=str(output) if output else f"{file.stem}{f'-shot{shot}' if shot else ''}"
                                                            f"{'-preview' if preview else ''}.mp4")
        board, base, out = storyboard_job(request)
        if shot is not None and shot > len(board.shots):
            raise BadInput(f"--shot {shot}: {file} has {len(board.shots)} shots")
        dev = resolve_device(device)
        loaded = load_model(base.model, dev, resolve_dtype(dtype, dev))
        only = None if shot is None else shot - 1
        report.log(f"storyboard: {len(board.shots) if only is None else 1} shot(s), {base.width}x{base.height} "
                   f"@ {base.fps:g} fps, seed {base.seed}, model {loaded.spec.name} on {dev}")
        with report.progress() as progress:
            result = make_storyboard_clip(board, file, base, out, loaded, Engine(loaded, progress), only)
        for record in result["shots"]:
            for warning in record["warnings"]:
                report.warn(f"shot {record['shot']}: {warning}")
        report.log(f"wrote {out.path} in {result['seconds']:.1f}s")
        report.result(result, json)


def register(app: typer.Typer) -> None:
    app.command()(storyboard)
