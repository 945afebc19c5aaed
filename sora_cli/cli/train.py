"""`sora train`: train sora-mini (or resume it) on the rendered world; `--export` ships it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from sora_cli.cli import options as o
from sora_cli.cli.console import errors_as_exit_codes
from sora_cli.errors import BadInput
from sora_cli.runtime import resolve_device


def train(out: Annotated[Path, typer.Option(help="Checkpoint and loss-log folder.")] = Path("runs/sora-mini"),
          recipe: Annotated[str, typer.Option(help="What to train: a model spec and its settings "
                                                   "(research/training/recipes.py).")] = "latent-dit",
          minutes: Annotated[float, typer.Option(help="Budget of this run, in minutes of --clock.")] = 60.0,
          clock: Annotated[str, typer.Option(help="wall: wall-clock minutes; cpu: this process's CPU time over "
                                                  "the machine's cores (fair when jobs share it).")] = "wall",
          vae_minutes: Annotated[Optional[float], typer.Option(help="Autoencoder training time (in all runs).")] = None,
          device: o.Device = "auto",
          init_from: Annotated[Optional[Path], typer.Option(help="Model folder to start from when OUT holds no "
                                                                 "checkpoint (default: the shipped weights).")] = None,
          from_scratch: Annotated[bool, typer.Option(help="Ignore the shipped weights; start from random.")] = False,
          seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
          batch_scale: Annotated[Optional[int], typer.Option(min=1, help="Batches this many times the CPU-sized "
                                                                         "ones (3 full-size clips).")] = None,
          dit_lr: Annotated[Optional[float], typer.Option(min=1e-7, max=1e-2, help="The DiT's peak learning rate; "
                                                                                   "it decays to a tenth over each run.")] = None,
          reuse: Annotated[Optional[int], typer.Option(min=1, help="Train on each encoded DiT batch about this many "
                                                                   "times (fresh noise and captions each time).")] = None,
          snapshot_minutes: Annotated[float, typer.Option(min=0.0, help="Also keep the EMA weights as a model folder "
                                                                        "in OUT/snapshots every this many budget "
                                                                        "minutes (learning curves).")] = 0.0,
          export: Annotated[Optional[Path], typer.Option(help="Only write the checkpoint's EMA weights as a "
                                                              "model folder here (fp16).")] = None) -> None:
    """Train sora-mini on the world it renders itself.

    Resumes from OUT when it holds a checkpoint, else starts from the shipped weights when
    they are of the recipe's spec (unless --from-scratch). Checkpoints every 5 minutes and
    at the end; loss.csv logs each step.
    """
    import sys

    from sora_cli.research.training.checkpoint import export as export_model
    from sora_cli.research.training.loop import TrainConfig
    from sora_cli.research.training.loop import train as run
    from sora_cli.research.training.recipes import RECIPES

    with errors_as_exit_codes():
        if recipe not in RECIPES:
            raise BadInput(f"unknown recipe '{recipe}' (known: {', '.join(RECIPES)})")
        if clock not in ("wall", "cpu"):
            raise BadInput(f"--clock must be wall or cpu, not '{clock}'")
        spec, settings = RECIPES[recipe]
        if export is not None:
            if not (out / "checkpoint.safetensors").is_file():
                raise BadInput(f"no checkpoint in {out}")
            export_model(out, spec, export)
            typer.echo(str(export))
            return
        dev = resolve_device(device)
        if from_scratch:
            init_from = None
        elif init_from is None:
            init_from = _shipped_of(spec)
        given = dict(vae_minutes=vae_minutes, batch_scale=batch_scale, dit_lr=dit_lr, reuse=reuse)
        settings = settings | {k: v for k, v in given.items() if v is not None}
        settings.setdefault("vae_minutes", 15.0)
        cfg = TrainConfig(spec=spec, out=out, minutes=minutes, device=str(dev), seed=seed, init_from=init_from,
                          clock=clock, snapshot_minutes=snapshot_minutes, **settings)
        run(cfg, log=lambda msg: print(msg, file=sys.stderr, flush=True))
        typer.echo(str(out / "checkpoint.safetensors"))


def _shipped_of(spec) -> Path | None:
    """The shipped sora-mini folder when its weights are of this spec, else None (from scratch)."""
    from sora_cli.models.mini.folder import read_spec
    from sora_cli.weights import find_model

    try:
        folder = find_model("sora-mini")
        return folder if read_spec(folder) == spec else None
    except BadInput:
        return None


def evaluate(model: Annotated[str, typer.Option("--model", "-m", help="Model name or folder.")] = "sora-mini",
             prompts: Annotated[int, typer.Option(help="Held-out prompts, each at preview and full size.", min=1)] = 20,
             modes: Annotated[int, typer.Option(help="Clips for each of animate, extend, loop and v2v (0: skip).", min=0)] = 4,
             long_seconds: Annotated[float, typer.Option(help="Length of the chained drift test (0: skip).", min=0.0)] = 60.0,
             storyboards: Annotated[int, typer.Option(
                 help="Storyboards of 2-4 shots: cuts, identity across them, continue seams, camera (0: skip).",
                 min=0)] = 0,
             seed: Annotated[int, typer.Option(help="Picks the prompts and the sampling seeds.")] = 0,
             device: o.Device = "auto",
             dtype: o.Dtype = "auto",
             guidance: Annotated[Optional[float], typer.Option(
                 help="Guidance scale for every clip (default: the model's).", min=0.0)] = None,
             guidance_interval: Annotated[Optional[tuple[float, float]], typer.Option(
                 help="Times t (1 = noise) LO HI at which guidance applies (default: the model's).",
                 min=0.0, max=1.0)] = None,
             guidance_focus: Annotated[Optional[float], typer.Option(
                 help="Guide only tokens whose prompt pull is at least this share of their frame's largest "
                      "(0: all; default: the model's).", min=0.0, max=1.0)] = None,
             json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Judge a world model's clips from their pixels: attributes, binding, flicker, seams, v2v, drift."""
    import sys

    from sora_cli.research.evaluation import evaluate as run_eval
    from sora_cli.research.evaluation import report_json
    from sora_cli.runtime import resolve_dtype
    from sora_cli.weights import load_model

    with errors_as_exit_codes():
        if guidance_interval is not None and guidance_interval[0] > guidance_interval[1]:
            # an empty interval would silently judge the model without guidance
            raise BadInput(f"--guidance-interval {guidance_interval[0]} {guidance_interval[1]}: LO must not exceed HI")
        dev = resolve_device(device)
        loaded = load_model(model, dev, resolve_dtype(dtype, dev))
        if guidance_focus is not None:
            loaded = replace(loaded, spec=replace(loaded.spec, guidance_focus=guidance_focus))
        log = lambda m: print(m, file=sys.stderr, flush=True) if sys.stderr.isatty() else None  # noqa: E731
        report = run_eval(loaded, prompts, seed, modes, long_seconds, guidance=guidance,
                          guidance_interval=guidance_interval, log=log)
        if storyboards:
            from sora_cli.research.storyboard_eval import storyboard_eval

            report["storyboard"] = storyboard_eval(loaded, storyboards, seed, log)
        if json:
            typer.echo(report_json(report))
            return
        for section, values in report.items():
            typer.echo(f"{section}: " + ", ".join(f"{k} {v}" for k, v in values.items()))


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command(name="eval")(evaluate)
