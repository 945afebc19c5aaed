"""Commands about things rather than clips: presets, models, pull, info."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sora_cli.cli import options as o
from sora_cli.cli.console import errors_as_exit_codes
from sora_cli.errors import BadInput
from sora_cli.hub import download
from sora_cli.presets import load_presets
from sora_cli.specs import SPECS
from sora_cli.video_io import read_metadata
from sora_cli.weights import find_model


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def presets(json: o.Json = False) -> None:
    """List the aspect-ratio presets."""
    with errors_as_exit_codes():
        items = load_presets()
        if json:
            typer.echo(jsonlib.dumps([vars(p) for p in items.values()]))
            return
        _table("presets", ["name", "size", "fps", "duration", "description"],
               [[p.name, f"{p.width}x{p.height}", str(p.fps), f"{p.duration:g}s", p.description]
                for p in items.values()])


def models(json: o.Json = False) -> None:
    """List the models and whether their weights are here."""
    with errors_as_exit_codes():
        rows = []
        for name, spec in SPECS.items():
            try:
                where, status = str(find_model(name)), "ready"
            except BadInput as exc:
                where, status = str(exc), "missing"
            rows.append({"name": name, "status": status, "where": where, "hf_repo": spec.hf_repo,
                         "trained_for": list(spec.trained_for)})
        if json:
            typer.echo(jsonlib.dumps(rows))
            return
        # Every mode works with every model; the others run training-free (same conditioning).
        _table("models", ["name", "status", "trained for", "where"],
               [[r["name"], r["status"], ", ".join(r["trained_for"]), r["where"]] for r in rows])


def pull(name: Annotated[str, typer.Argument(help="Model to download into the Hugging Face cache.")]) -> None:
    """Download a model's weights (the only command that uses the network)."""
    with errors_as_exit_codes():
        if name not in SPECS:
            raise BadInput(f"unknown model '{name}' (known: {', '.join(sorted(SPECS))})")
        spec = SPECS[name]
        if not spec.hf_repo:
            typer.echo(str(find_model(name)))
            return
        path = download(spec)
        typer.echo(path)


def info(file: Annotated[Path, typer.Argument(help="A clip made by sora.")], json: o.Json = False) -> None:
    """Print the prompt, seed, model and settings a clip was made with."""
    with errors_as_exit_codes():
        meta = read_metadata(file)
        if json:
            typer.echo(jsonlib.dumps(meta, sort_keys=True))
            return
        for key in sorted(meta):
            typer.echo(f"{key}: {meta[key]}")


def register(app: typer.Typer) -> None:
    app.command()(presets)
    app.command()(models)
    app.command()(pull)
    app.command()(info)
