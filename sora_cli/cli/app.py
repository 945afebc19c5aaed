"""The `sora` command: registers the subcommands; each lives in its own module."""

from __future__ import annotations

import sys

import typer

from sora_cli import __version__
from sora_cli.cli import batch, catalog, make, storyboard, train
from sora_cli.cli.entry import interrupt_exit

app = typer.Typer(
    name="sora",
    help="Make videos from words, images and videos, locally, with a diffusion transformer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
make.register(app)
storyboard.register(app)
batch.register(app)
catalog.register(app)
train.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version.")) -> None:
    """Make videos from words, images and videos, locally, with a diffusion transformer."""


def main() -> None:
    """Entry point: usage errors become one line too (exit 2)."""
    try:
        code = app(args=batch.ray_flag_with_address(sys.argv[1:]), standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort as exc:  # click turns an interrupt outside a command body into Abort
        cause = exc.__cause__ or exc.__context__
        line, code = interrupt_exit(cause if isinstance(cause, KeyboardInterrupt) else KeyboardInterrupt())
        typer.echo(line, err=True)
        sys.exit(code)
    except Exception as exc:
        # Typer vendors its own click, so match click's exception interface, not its classes.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `sora`: the help is the answer
            typer.echo(exc.format_message(), err=True)
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        typer.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
