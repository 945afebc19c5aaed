"""The five ways to make a clip: generate, animate, extend, loop, v2v."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from sora_cli.cli import options as o
from sora_cli.cli.console import Reporter, errors_as_exit_codes, read_prompt
from sora_cli.clip import make_clip
from sora_cli.engine import Engine
from sora_cli.jobs import full_working_size
from sora_cli.requests import Request, build_job
from sora_cli.runtime import resolve_device, resolve_dtype
from sora_cli.weights import load_model


def run(req: Request, device: str, dtype: str, as_json: bool, quiet: bool) -> None:
    report = Reporter(quiet)
    with errors_as_exit_codes():
        req = _with_prompt(req)
        job = build_job(req)
        dev = resolve_device(device)
        model = load_model(job.model, dev, resolve_dtype(dtype, dev))
        unknown = model.unknown_words(job.prompt)
        if unknown:
            report.warn(f"{model.spec.name} does not know these words and ignores them: {', '.join(unknown)}")
        spec = model.spec
        w, h, native = full_working_size(job, spec)
        if not native:
            sizes = " and ".join(f"{a}x{b}" for a, b in spec.native_sizes)
            report.warn(f"{spec.name} was trained at {sizes}; at {w}x{h} quality may drop")
        report.log(f"{job.mode}: {job.width}x{job.height} @ {job.fps:g} fps, seed {job.seed}, "
                   f"model {model.spec.name} on {dev}")
        with report.progress() as progress:
            result = make_clip(job, model, Engine(model, progress))
        report.log(f"wrote {result['output']} in {result['seconds']:.1f}s")
        if job.preview:
            report.note(f"preview; full render: {result['full_render']}")
        report.result(result, as_json)


def _with_prompt(req: Request) -> Request:
    return replace(req, prompt=read_prompt(req.prompt))


def register(app: typer.Typer) -> None:
    @app.command()
    def generate(prompt: o.Prompt, preset: o.Preset = None, width: o.Width = None, height: o.Height = None,
                 fps: o.Fps = None, duration: o.Duration = None, frames: o.Frames = None, seed: o.Seed = None,
                 steps: o.Steps = None, guidance: o.Guidance = None, negative: o.Negative = None,
                 model: o.Model = "sora-mini", device: o.Device = "auto", dtype: o.Dtype = "auto",
                 output: o.Output = None, overwrite: o.Overwrite = False, preview: o.Preview = False,
                 json: o.Json = False, quiet: o.Quiet = False) -> None:
        """Text to video."""
        run(Request("generate", prompt, negative, seed, steps, guidance, preset, width, height, fps, duration,
                    frames, model=model, output=_s(output), preview=preview, overwrite=overwrite),
            device, dtype, json, quiet)

    @app.command()
    def animate(image: Annotated[Path, typer.Argument(help="The still to bring to life.")], prompt: o.Prompt,
                at: Annotated[str, typer.Option(help="Where the image goes: start or end.")] = "start",
                preset: o.Preset = None, width: o.Width = None, height: o.Height = None, fps: o.Fps = None,
                duration: o.Duration = None, frames: o.Frames = None, seed: o.Seed = None, steps: o.Steps = None,
                guidance: o.Guidance = None, negative: o.Negative = None, model: o.Model = "sora-mini",
                device: o.Device = "auto", dtype: o.Dtype = "auto", output: o.Output = None,
                overwrite: o.Overwrite = False, preview: o.Preview = False, json: o.Json = False,
                quiet: o.Quiet = False) -> None:
        """Image to video: the image is the first frame (or the last, with --at end)."""
        run(Request("animate", prompt, negative, seed, steps, guidance, preset, width, height, fps, duration,
                    frames, image=str(image), at=at, model=model, output=_s(output), preview=preview,
                    overwrite=overwrite), device, dtype, json, quiet)

    @app.command()
    def extend(video: Annotated[Path, typer.Argument(help="The clip to continue.")], prompt: o.Prompt,
               backward: Annotated[bool, typer.Option(help="Invent what came before instead.")] = False,
               seconds: o.Seconds = None, frames: o.Frames = None, preset: o.Preset = None,
               width: o.Width = None, height: o.Height = None, fps: o.Fps = None, seed: o.Seed = None,
               steps: o.Steps = None, guidance: o.Guidance = None, negative: o.Negative = None,
               model: o.Model = "sora-mini", device: o.Device = "auto", dtype: o.Dtype = "auto",
               output: o.Output = None, overwrite: o.Overwrite = False, preview: o.Preview = False,
               json: o.Json = False, quiet: o.Quiet = False) -> None:
        """Continue a clip forward (or backward) in time; its own frames are kept as they are."""
        run(Request("extend", prompt, negative, seed, steps, guidance, preset, width, height, fps, None, frames,
                    seconds=seconds, video=str(video), backward=backward, model=model, output=_s(output),
                    preview=preview, overwrite=overwrite), device, dtype, json, quiet)

    @app.command()
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
        run(Request("loop", prompt, negative, seed, steps, guidance, preset, width, height, fps, duration, frames,
                    seconds=seconds, video=_s(video), model=model, output=_s(output), preview=preview,
                    overwrite=overwrite), device, dtype, json, quiet)

    @app.command()
    def v2v(video: Annotated[Path, typer.Argument(help="The clip to restyle or edit.")], prompt: o.Prompt,
            strength: Annotated[float, typer.Option(help="How much to change: 0 keeps it, 1 redraws it.")] = 0.6,
            preset: o.Preset = None, width: o.Width = None, height: o.Height = None, fps: o.Fps = None,
            seed: o.Seed = None, steps: o.Steps = None, guidance: o.Guidance = None, negative: o.Negative = None,
            model: o.Model = "sora-mini", device: o.Device = "auto", dtype: o.Dtype = "auto",
            output: o.Output = None, overwrite: o.Overwrite = False, preview: o.Preview = False,
            json: o.Json = False, quiet: o.Quiet = False) -> None:
        """Restyle or edit a clip from a prompt (SDEdit from the noised input)."""
        run(Request("v2v", prompt, negative, seed, steps, guidance, preset, width, height, fps, video=str(video),
                    strength=strength, model=model, output=_s(output), preview=preview, overwrite=overwrite),
            device, dtype, json, quiet)


def _s(path: Path | None) -> str | None:
    return None if path is None else str(path)
