"""`sora train`: train sora-mini (or resume it) on the rendered world; `--export` ships it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sora_cli.cli import options as o
from sora_cli.cli.console import errors_as_exit_codes
from sora_cli.errors import BadInput
from sora_cli.runtime import resolve_device


def train(out: Annotated[Path, typer.Option(help="Checkpoint and loss-log folder.")] = Path("runs/sora-mini"),
          minutes: Annotated[float, typer.Option(help="Wall-clock budget of this run.")] = 60.0,
          vae_minutes: Annotated[float, typer.Option(help="Autoencoder training time (in all runs).")] = 15.0,
          device: o.Device = "auto",
          init_from: Annotated[Optional[Path], typer.Option(help="Model folder to start from when OUT holds no "
                                                                 "checkpoint (default: the shipped weights).")] = None,
          from_scratch: Annotated[bool, typer.Option(help="Ignore the shipped weights; start from random.")] = False,
          seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
          batch_scale: Annotated[int, typer.Option(min=1, help="Batches this many times the CPU-sized "
                                                               "ones (a GPU wants 16 or more).")] = 1,
          dit_lr: Annotated[float, typer.Option(min=1e-7, max=1e-2, help="The DiT's peak learning rate; it decays "
                                                                         "to a tenth over each run.")] = 4e-4,
          reuse: Annotated[int, typer.Option(min=1, help="Train on each encoded DiT batch about this many times "
                                                         "(fresh noise and captions each time).")] = 1,
          export: Annotated[Optional[Path], typer.Option(help="Only write the checkpoint's EMA weights as a "
                                                              "model folder here (fp16).")] = None) -> None:
    """Train sora-mini on the world it renders itself.

    Resumes from OUT when it holds a checkpoint, else starts from the shipped weights
    (unless --from-scratch). Checkpoints every 5 minutes and at the end; loss.csv logs each step.
    """
    import sys

    from sora_cli.research.training.checkpoint import export as export_model
    from sora_cli.research.training.loop import TrainConfig
    from sora_cli.research.training.loop import train as run
    from sora_cli.specs import SORA_MINI

    with errors_as_exit_codes():
        if export is not None:
            if not (out / "checkpoint.safetensors").is_file():
                raise BadInput(f"no checkpoint in {out}")
            export_model(out, SORA_MINI, export)
            typer.echo(str(export))
            return
        dev = resolve_device(device)
        if from_scratch:
            init_from = None
        elif init_from is None:
            from sora_cli.weights import find_model

            try:
                init_from = find_model("sora-mini")
            except BadInput:
                init_from = None  # nothing shipped yet: from scratch
        cfg = TrainConfig(SORA_MINI, out, minutes, vae_minutes, str(dev), seed, init_from,
                          dit_lr=dit_lr, batch_scale=batch_scale, reuse=reuse)
        run(cfg, log=lambda msg: print(msg, file=sys.stderr, flush=True))
        typer.echo(str(out / "checkpoint.safetensors"))


def evaluate(model: Annotated[str, typer.Option("--model", "-m", help="Model name or folder.")] = "sora-mini",
             prompts: Annotated[int, typer.Option(help="Held-out prompts, each at preview and full size.", min=1)] = 20,
             modes: Annotated[int, typer.Option(help="Clips for each of animate, extend, loop and v2v (0: skip).", min=0)] = 4,
             long_seconds: Annotated[float, typer.Option(help="Length of the chained drift test (0: skip).", min=0.0)] = 60.0,
             seed: Annotated[int, typer.Option(help="Picks the prompts and the sampling seeds.")] = 0,
             device: o.Device = "auto",
             guidance: Annotated[Optional[float], typer.Option(
                 help="Guidance scale for every clip (default: the model's).", min=0.0)] = None,
             guidance_interval: Annotated[Optional[tuple[float, float]], typer.Option(
                 help="Times t (1 = noise) LO HI at which guidance applies (default: the model's).",
                 min=0.0, max=1.0)] = None,
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
        loaded = load_model(model, dev, resolve_dtype("auto", dev))
        report = run_eval(loaded, prompts, seed, modes, long_seconds, guidance=guidance,
                          guidance_interval=guidance_interval,
                          log=lambda m: print(m, file=sys.stderr, flush=True) if sys.stderr.isatty() else None)
        if json:
            typer.echo(report_json(report))
            return
        for section, values in report.items():
            typer.echo(f"{section}: " + ", ".join(f"{k} {v}" for k, v in values.items()))


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command(name="eval")(evaluate)
