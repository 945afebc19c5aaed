"""A storyboard, named by a request (a command line or a batch item), rendered into one clip file.

`storyboard_job` checks everything that can be checked before a model loads: the file, and
the sizes, seed and output that every shot shares. `make_storyboard_clip` renders the shots
and writes the clip with the storyboard in its metadata, as `clip.make_clip` does for one shot.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import replace
from pathlib import Path

from sora_cli import __version__
from sora_cli.clip import rerender_command
from sora_cli.engine import Engine
from sora_cli.errors import BadInput
from sora_cli.jobs import Job, Output
from sora_cli.models.interface import LoadedModel
from sora_cli.plan import ClipPlan
from sora_cli.requests import Request, build_job
from sora_cli.storyboard import Storyboard, read_storyboard, render_storyboard, shot_frames
from sora_cli.video_io import write_video

# What a request may say for the whole clip; what it leaves as None, the file may set.
SETTINGS = ("seed", "preset", "width", "height", "fps", "steps", "guidance", "negative")
DEFAULT_MODEL = Request().model


def storyboard_job(request: Request, folder_to_be_made: Path | None = None) -> tuple[Storyboard, Job, Output]:
    """The board of `request.storyboard`, the job every shot shares (its first shot's), and the
    request's output (the command line and batch plans always name one).

    The request's settings win over the file's; its model wins unless it is the default.
    """
    path = Path(request.storyboard)
    if request.prompt or request.mode != "generate":
        raise BadInput("a storyboard takes its prompts and modes from its file: give it no prompt or mode")
    board = read_storyboard(path)
    settings = {k: board.settings[k] for k in SETTINGS if k in board.settings}
    settings |= {k: getattr(request, k) for k in SETTINGS if getattr(request, k) is not None}
    model = board.settings.get("model", DEFAULT_MODEL) if request.model == DEFAULT_MODEL else request.model
    base, out = build_job(replace(Request(), mode="generate", prompt=board.shots[0].prompt, frames=1,
                                  preview=request.preview, output=request.output, overwrite=request.overwrite,
                                  model=str(model), **settings), folder_to_be_made=folder_to_be_made)
    return board, base, out


def make_storyboard_clip(board: Storyboard, source: Path, base: Job, output: Output, model: LoadedModel,
                         engine: Engine, only: int | None = None, extra: dict | None = None) -> dict:
    """Render the shots (or shot `only` alone) into `output`; returns what a script needs to know,
    each shot's warnings included."""
    start = time.perf_counter()
    frames, shots, first = [], [], None
    for i, plan, new in render_storyboard(board, base, model, engine, only):
        first = first or plan
        frames.append(new)
        shots.append(_shot_record(board, base, i, plan))
    meta = _metadata(source, board, base, first, shots, sum(f.shape[0] for f in frames), model, only) | (extra or {})
    write_video(output.path, (f for clip in frames for f in clip), (first.settings.width, first.settings.height),
                first.output_size, base.fps, meta, output.overwrite, draft=base.preview)
    return {"output": str(output.path), "sidecar": str(output.path.with_suffix(".json")), "mode": "storyboard",
            "seed": base.seed, "model": model.spec.name, "width": first.output_size[0],
            "height": first.output_size[1], "fps": base.fps, "frames": meta["frames"], "preview": base.preview,
            "shots": shots, "seconds": round(time.perf_counter() - start, 3)}


def _shot_record(board: Storyboard, base: Job, i: int, plan: ClipPlan) -> dict:
    shot = board.shots[i]
    record = {"shot": i + 1, "prompt": shot.prompt, "seconds": shot.seconds, "join": shot.join,
              "seed": base.seed + i, "frames": shot_frames(shot, base.fps),
              "unknown_words": list(plan.unknown_words), "warnings": list(plan.warnings)}
    if plan.job.mode == "generate":  # a shot from noise alone: this command makes exactly it again
        record["command"] = rerender_command(plan.job, base.preview)
    return record


def _metadata(source: Path, board: Storyboard, base: Job, plan: ClipPlan, shots: list[dict], frames: int,
              model: LoadedModel, only: int | None) -> dict:
    s = plan.settings
    args = ["sora", "storyboard", str(source), "--seed", str(base.seed), "--width", str(base.width), "--height",
            str(base.height), "--fps", f"{base.fps:g}", "--model", base.model]
    if only is not None:
        args += ["--shot", str(only + 1)]
    if base.preview:
        args.append("--preview")
    return {"sora_cli": __version__, "mode": "storyboard", "storyboard": board.as_dict(), "shots": shots,
            "prompt": " | ".join(sh["prompt"] for sh in shots), "seed": base.seed, "model": plan.model_name,
            "model_source": str(model.source), "steps": s.steps, "guidance": s.guidance, "shift": s.shift,
            "width": plan.output_size[0], "height": plan.output_size[1], "fps": base.fps, "frames": frames,
            "working_size": [s.width, s.height], "preview": base.preview, "command": shlex.join(args)}
