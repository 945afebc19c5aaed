"""Make one clip: render a plan and write it with its metadata."""

from __future__ import annotations

import shlex
import time

from sora_cli import __version__
from sora_cli.engine import Engine
from sora_cli.jobs import Job, Output
from sora_cli.plan import ClipPlan
from sora_cli.render import output_frames, render, total_frames
from sora_cli.video_io import write_video


def rerender_command(job: Job, preview: bool) -> str:
    """The `sora` command that makes this clip again (at full size when preview=False)."""
    given = [a for a in (job.image_path, job.video_path if job.mode in ("extend", "v2v") else None) if a]
    positional = [*given, job.prompt]
    args = ["--seed", str(job.seed), "--width", str(job.width), "--height", str(job.height),
            "--fps", f"{job.fps:g}", "--frames", str(job.frames), "--model", job.model]
    if job.steps:
        args += ["--steps", str(job.steps)]
    if job.guidance is not None:
        args += ["--guidance", f"{job.guidance:g}"]
    if job.negative is not None:
        args += ["--negative", job.negative]
    if job.mode == "animate":
        args += ["--at", job.at]
    if job.mode == "extend" and job.backward:
        args.append("--backward")
    if job.mode == "loop" and job.video_path:
        args += ["--video", job.video_path]
    if job.mode == "v2v":
        args += ["--strength", f"{job.strength:g}"]
    if preview:
        args.append("--preview")
    if any(a.startswith("-") for a in positional):
        # a prompt or file name that looks like an option must come after "--", options before it
        return shlex.join(["sora", job.mode, *args, "--", *positional])
    return shlex.join(["sora", job.mode, *positional, *args])


def metadata(plan: ClipPlan, model_source: str, extra: dict | None = None) -> dict:
    job, s = plan.job, plan.settings
    width, height = plan.output_size
    data = {
        "sora_cli": __version__, "mode": job.mode, "prompt": job.prompt, "negative": s.negative,
        "seed": job.seed, "model": plan.model_name, "model_source": model_source,
        "steps": s.steps, "guidance": s.guidance, "guidance_interval": list(s.guidance_interval),
        "guidance_focus": s.guidance_focus, "shift": s.shift,
        "width": width, "height": height, "fps": job.fps, "working_size": [s.width, s.height],
        "preview": job.preview, "image": job.image_path, "video": job.video_path,
        "command": rerender_command(job, job.preview), "unknown_words": list(plan.unknown_words),
    }
    if job.mode == "animate":
        data["at"] = job.at
    if job.mode == "extend":
        data["backward"] = job.backward
    if job.mode == "v2v":
        data["strength"] = job.strength
    return data | (extra or {})


def make_clip(plan: ClipPlan, output: Output, engine: Engine, extra: dict | None = None) -> dict:
    """Render `plan` and write it to `output`; returns what a script needs to know about the result."""
    start = time.perf_counter()
    job = plan.job
    segments = render(plan, engine)
    width, height = plan.output_size
    meta = metadata(plan, str(engine.model.source), extra)
    meta["frames"] = total_frames(segments)
    frames, frame_w, frame_h = output_frames(segments, width, height)
    write_video(output.path, frames, (frame_w, frame_h), (width, height), job.fps, meta, output.overwrite,
                draft=job.preview)
    result = {
        "output": str(output.path), "sidecar": str(output.path.with_suffix(".json")),
        "mode": job.mode, "seed": job.seed, "model": plan.model_name, "width": width, "height": height,
        "fps": job.fps, "frames": meta["frames"], "preview": job.preview,
        "seconds": round(time.perf_counter() - start, 3), "unknown_words": list(plan.unknown_words),
    }
    if job.preview:
        result["full_render"] = rerender_command(job, preview=False)
    return result
