"""The `sora` entry point: signal handling first, everything else after.

Importing the commands takes a second or more (torch, numpy). An exception raised inside
those imports can be swallowed by an extension module or leave it half-loaded ("cannot
load module more than once"), so during start-up Ctrl-C and SIGTERM are only noted, and
acted on (one line, exit 130 or 143) as soon as the imports are done. From then on they
raise, so that every clean-up (the encoder's child, temp files, the batch manifest) runs.
"""

from __future__ import annotations

import signal
import sys

from sora_cli.errors import Terminated


def _terminate(signum, frame) -> None:
    raise Terminated()


def interrupt_exit(exc: KeyboardInterrupt) -> tuple[str, int]:
    """The line and exit code for an interrupt: SIGTERM is 143, Ctrl-C 130."""
    if isinstance(exc, Terminated):
        return "error: terminated", Terminated.exit_code
    return "error: interrupted", 130


def main() -> None:
    noted: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: noted.append(signum))
    from sora_cli.cli.app import main as run

    if noted:
        _exit(Terminated() if noted[0] == signal.SIGTERM else KeyboardInterrupt())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run()
    except KeyboardInterrupt as exc:  # between a command's steps, outside its error handling
        _exit(exc)


def _exit(exc: KeyboardInterrupt) -> None:
    line, code = interrupt_exit(exc)
    print(line, file=sys.stderr)
    sys.exit(code)
