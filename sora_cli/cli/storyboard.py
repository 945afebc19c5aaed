"""`sora storyboard`: several shots, joined by `continue` or `cut`, in one clip."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from sora_cli import __version__
from sora_cli.cli import options as o
from sora_cli.cli.console import Reporter, errors_as_exit_codes
from sora_cli.engine import Engine
from sora_cli.errors import BadInput
from sora_cli.requests import Request, build_job
from sora_cli.runtime import resolve_device, resolve_dtype
from sora_cli.storyboard import read_storyboard, render_storyboard, shot_frames
from sora_cli.video_io import write_video
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
        board = read_storyboard(file)
        if shot is not None and shot > len(board.shots):
            raise BadInput(f"--shot {shot}: {file} has {len(board.shots)} shots")
        given = dict(seed=seed, preset=preset, width=width, height=height, fps=fps, steps=steps, guidance=guidance,
                     negative=negative, model=model)
        settings = board.settings | {k: v for k, v in given.items() if v is not None}
        suffix = f"-shot{shot}" if shot else ""
        default = Path(f"{file.stem}{suffix}{'-preview' if preview else ''}.mp4")
        # The first shot's request checks sizes, seed and output; every shot shares them.
        base, out = build_job(Request(mode="generate", prompt=board.shots[0].prompt, frames=1, preview=preview,
                                      output=str(output or default), overwrite=overwrite,
                                      **{k: v for k, v in settings.items() if k != "model"},
                                      model=settings.get("model", "sora-mini")))
        dev = resolve_device(device)
        loaded = load_model(base.model, dev, resolve_dtype(dtype, dev))
        only = None if shot is None else shot - 1
        count = len(board.shots) if only is None else 1
        report.log(f"storyboard: {count} shot(s), {base.width}x{base.height} @ {base.fps:g} fps, seed {base.seed}, "
                   f"model {loaded.spec.name} on {dev}")
        start = time.perf_counter()
        frames, shots, first_plan = [], [], None
        with report.progress() as progress:
            engine = Engine(loaded, progress)
            for i, plan, new in render_storyboard(board, base, loaded, engine, only):
                for warning in plan.warnings:
                    report.warn(f"shot {i + 1}: {warning}")
                first_plan = first_plan or plan
                frames.append(new)
                shots.append(_shot_record(board, base, i, plan))
        meta = _metadata(file, board, base, first_plan, shots, sum(f.shape[0] for f in frames), loaded, only)
        work_w, work_h = first_plan.settings.width, first_plan.settings.height
        write_video(out.path, (f for clip in frames for f in clip), (work_w, work_h), first_plan.output_size,
                    base.fps, meta, out.overwrite, draft=base.preview)
        report.log(f"wrote {out.path} in {time.perf_counter() - start:.1f}s")
        report.result({"output": str(out.path), "sidecar": str(out.path.with_suffix(".json")), "mode": "storyboard",
                       "seed": base.seed, "model": loaded.spec.name, "width": first_plan.output_size[0],
                       "height": first_plan.output_size[1], "fps": base.fps, "frames": meta["frames"],
                       "preview": base.preview, "shots": shots, "seconds": round(time.perf_counter() - start, 3)},
                      json)


def _shot_record(board, base, i: int, plan) -> dict:
    shot = board.shots[i]
    record = {"shot": i + 1, "prompt": shot.prompt, "seconds": shot.seconds, "join": shot.join,
              "seed": base.seed + i, "frames": shot_frames(shot, base.fps), "unknown_words": list(plan.unknown_words)}
    if shot.join == "cut":  # a cut shot is a plain generate: this command makes exactly it again
        from sora_cli.clip import rerender_command

        record["command"] = rerender_command(plan.job, base.preview)
    return record


def _metadata(file: Path, board, base, plan, shots: list[dict], frames: int, loaded, only: int | None) -> dict:
    s = plan.settings
    args = ["sora", "storyboard", str(file), "--seed", str(base.seed), "--width", str(base.width), "--height",
            str(base.height), "--fps", f"{base.fps:g}", "--model", base.model]
    if only is not None:
        args += ["--shot", str(only + 1)]
    if base.preview:
        args.append("--preview")
    return {"sora_cli": __version__, "mode": "storyboard", "storyboard": board.as_dict(), "shots": shots,
            "prompt": " | ".join(sh["prompt"] for sh in shots), "seed": base.seed, "model": plan.model_name,
            "model_source": str(loaded.source), "steps": s.steps, "guidance": s.guidance, "shift": s.shift,
            "width": plan.output_size[0], "height": plan.output_size[1], "fps": base.fps, "frames": frames,
            "working_size": [s.width, s.height], "preview": base.preview, "command": shlex.join(args)}


def register(app: typer.Typer) -> None:
    app.command()(storyboard)
