"""The five ways to make a clip: generate, animate, extend, loop, v2v."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sora_cli.cli import options as o
from sora_cli.cli.console import Reporter, errors_as_exit_codes, read_prompt
from sora_cli.clip import make_clip
from sora_cli.engine import Engine
from sora_cli.jobs import V2V_STRENGTH
from sora_cli.plan import plan_clip
from sora_cli.requests import Request, build_job
from sora_cli.runtime import resolve_device, resolve_dtype
from sora_cli.weights import load_model


def run(req: Request, device: str, dtype: str, as_json: bool, quiet: bool) -> None:
    """Check the request, load the model, plan, render and write; report on stderr, result on stdout."""
    report = Reporter(quiet)
    with errors_as_exit_codes():
        job, output = build_job(Request(**(vars(req) | {"prompt": read_prompt(req.prompt)})))
        dev = resolve_device(device)
        model = load_model(job.model, dev, resolve_dtype(dtype, dev))
        plan = plan_clip(job, model)
        for warning in plan.warnings:
            report.warn(warning)
        report.log(f"{job.mode}: {job.width}x{job.height} @ {job.fps:g} fps, seed {job.seed}, "
                   f"model {model.spec.name} on {dev}")
        with report.progress() as progress:
            result = make_clip(plan, output, Engine(model, progress))
        report.log(f"wrote {result['output']} in {result['seconds']:.1f}s")
        if job.preview:
            report.note(f"preview; full render: {result['full_render']}")
        report.result(result, as_json)


def generate(prompt: o.Prompt, preset: o.Preset = None, width: o.Width = None, height: o.Height = None,
             fps: o.Fps = None, duration: o.Duration = None, frames: o.Frames = None, seed: o.Seed = None,
             steps: o.Steps = None, guidance: o.Guidance = None, negative: o.Negative = None,
             model: o.Model = "sora-mini", device: o.Device = "auto", dtype: o.Dtype = "auto",
             output: o.Output = None, overwrite: o.Overwrite = False, preview: o.Preview = False,
             json: o.Json = False, quiet: o.Quiet = False) -> None:
    """Text to video."""
    run(Request(mode="generate", prompt=prompt, negative=negative, seed=seed, steps=steps, guidance=guidance,
                preset=preset, width=width, height=height, fps=fps, duration=duration, frames=frames, model=model,
                output=_s(output), preview=preview, overwrite=overwrite), device, dtype, json, quiet)


def animate(image: Annotated[Path, typer.Argument(help="The still to bring to life.")], prompt: o.Prompt,
            at: Annotated[str, typer.Option(help="Where the image goes: start or end.")] = "start",
            preset: o.Preset = None, width: o.Width = None, height: o.Height = None, fps: o.Fps = None,
            duration: o.Duration = None, frames: o.Frames = None, seed: o.Seed = None, steps: o.Steps = None,
            guidance: o.Guidance = None, negative: o.Negative = None, model: o.Model = "sora-mini",
            device: o.Device = "auto", dtype: o.Dtype = "auto", output: o.Output = None,
            overwrite: o.Overwrite = False, preview: o.Preview = False, json: o.Json = False,
            quiet: o.Quiet = False) -> None:
    """Image to video: the image is the first frame (or the last, with --at end)."""
    run(Request(mode="animate", prompt=prompt, negative=negative, seed=seed, steps=steps, guidance=guidance,
                preset=preset, width=width, height=height, fps=fps, duration=duration, frames=frames,
                image=str(image), at=at, model=model, output=_s(output), preview=preview, overwrite=overwrite),
        device, dtype, json, quiet)


def extend(video: Annotated[Path, typer.Argument(help="The clip to continue.")], prompt: o.Prompt,
           backward: Annotated[bool, typer.Option(help="Invent what came before instead.")] = False,
           seconds: o.Seconds = None, frames: o.Frames = None, preset: o.Preset = None,
           width: o.Width = None, height: o.Height = None, fps: o.Fps = None, seed: o.Seed = None,
           steps: o.Steps = None, guidance: o.Guidance = None, negative: o.Negative = None,
           model: o.Model = "sora-mini", device: o.Device = "auto", dtype: o.Dtype = "auto",
           output: o.Output = None, overwrite: o.Overwrite = False, preview: o.Preview = False,
           json: o.Json = False, quiet: o.Quiet = False) -> None:
    """Continue a clip forward (or backward) in time; its own frames are kept as they are."""
    run(Request(mode="extend", prompt=prompt, negative=negative, seed=seed, steps=steps, guidance=guidance,
                preset=preset, width=width, height=height, fps=fps, frames=frames, seconds=seconds,
                video=str(video), backward=backward, model=model, output=_s(output), preview=preview,
                overwrite=overwrite), device, dtype, json, quiet)


def loop(prompt: o.Prompt,
         video: Annotated[Optional[Path], typer.Option(help="Make this clip loop instead.")] = None,
         seconds: Annotated[Optional[float], typer.Option(help="With --video: seconds of the bridge.")] = None,
         preset: o.Preset = None, width: o.Width = None, height: o.Height = None, fps: o.Fps = None,
         duration: o.Duration = None, frames: o.Frames = None, seed: o.Seed = None, steps: o.Steps = None,
         guidance: o.Guidance = None, negative: o.Negative = None, model: o.Model = "sora-mini",
         device: o.Device = "auto", dtype: o.Dtype = "auto", output: o.Output = None,
         overwrite: o.Overwrite = False, preview: o.Preview = False, json: o.Json = False,
         quiet: o.Quiet = False) -> None:
    """A clip whose last frame flows into its first, to play on repeat."""
    run(Request(mode="loop", prompt=prompt, negative=negative, seed=seed, steps=steps, guidance=guidance,
                preset=preset, width=width, height=height, fps=fps, duration=duration, frames=frames,
                seconds=seconds, video=_s(video), model=model, output=_s(output), preview=preview,
                overwrite=overwrite), device, dtype, json, quiet)


def v2v(video: Annotated[Path, typer.Argument(help="The clip to restyle or edit.")], prompt: o.Prompt,
        strength: Annotated[float, typer.Option(help="How much to change: 0 keeps it, 1 redraws it.")] = V2V_STRENGTH,
        preset: o.Preset = None, width: o.Width = None, height: o.Height = None, fps: o.Fps = None,
        seed: o.Seed = None, steps: o.Steps = None, guidance: o.Guidance = None, negative: o.Negative = None,
        model: o.Model = "sora-mini", device: o.Device = "auto", dtype: o.Dtype = "auto",
        output: o.Output = None, overwrite: o.Overwrite = False, preview: o.Preview = False,
        json: o.Json = False, quiet: o.Quiet = False) -> None:
    """Restyle or edit a clip from a prompt (SDEdit from the noised input)."""
    run(Request(mode="v2v", prompt=prompt, negative=negative, seed=seed, steps=steps, guidance=guidance,
                preset=preset, width=width, height=height, fps=fps, video=str(video), strength=strength,
                model=model, output=_s(output), preview=preview, overwrite=overwrite), device, dtype, json, quiet)


COMMANDS = (generate, animate, extend, loop, v2v)


def register(app: typer.Typer) -> None:
    for command in COMMANDS:
        app.command()(command)


def _s(path: Path | None) -> str | None:
    return None if path is None else str(path)
