"""What the user sees: results on stdout, logs and progress on stderr, errors as one line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sora_cli.errors import Interrupted, SoraError, Terminated


class Reporter:
    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.err = Console(stderr=True)
        # Logs and progress are for people: gone with --quiet or when stderr is not a terminal.
        self.chatty = not quiet and self.err.is_terminal

    def log(self, message: str) -> None:
        if self.chatty:
            self.err.print(message, highlight=False)

    def warn(self, message: str) -> None:
        self.note(f"warning: {message}")

    def note(self, message: str) -> None:
        """Something a script's author wants to see too (not a log): shown unless --quiet."""
        if not self.quiet:
            typer.echo(message, err=True)

    def result(self, data: dict, as_json: bool, line: str | None = None) -> None:
        if as_json:
            typer.echo(json.dumps(data, sort_keys=True))
        else:
            typer.echo(line if line is not None else data["output"])

    @contextmanager
    def progress(self) -> Iterator:
        """Yields a callback (window, step, steps) for the engine, or None when silent."""
        if not self.chatty:
            yield None
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.err, transient=True) as bar:
            tasks: dict[int, int] = {}

            def update(window: int, step: int, steps: int) -> None:
                if window not in tasks:
                    tasks[window] = bar.add_task(f"window {window + 1}", total=steps)
                bar.update(tasks[window], completed=step)

            yield update


@contextmanager
def items_progress(reporter: Reporter, total: int) -> Iterator:
    """Yields a callback (done, failed) for a batch's items: one bar with both counts and an ETA."""
    if not reporter.chatty:
        yield lambda done, failed: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=reporter.err, transient=True) as bar:
        task = bar.add_task("items", total=total, failed=0)
        yield lambda done, failed: bar.update(task, completed=done + failed, failed=failed)


def fail(error: BaseException) -> typer.Exit:
    """Print one line for an error and return the exit that carries its code."""
    if isinstance(error, Terminated):
        typer.echo("error: terminated", err=True)
        return typer.Exit(Terminated.exit_code)
    if isinstance(error, KeyboardInterrupt):
        error = Interrupted("interrupted")
    if isinstance(error, SoraError):
        typer.echo(f"error: {error}", err=True)
        return typer.Exit(error.exit_code)
    if os.environ.get("SORA_DEBUG"):
        raise error
    typer.echo(f"error: internal error: {type(error).__name__}: {error} (set SORA_DEBUG=1 for details)", err=True)
    return typer.Exit(1)


@contextmanager
def errors_as_exit_codes() -> Iterator[None]:
    try:
        yield
    except (typer.Exit, SystemExit):
        raise
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every failure becomes one line
        raise fail(exc) from None


def read_prompt(prompt: str) -> str:
    if prompt == "-":
        return sys.stdin.read().strip()
    return prompt
