"""Interrupts a training loop acts on between its steps, not in the middle of one."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sora_cli.errors import Terminated


@contextmanager
def deferred_interrupts() -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM in the block are noted, not raised; -> a function that raises the noted one.

    So a training step in progress is finished (weights and optimiser stay consistent) and the
    loop saves its checkpoint before it stops. A second signal raises at once. Outside the main
    thread (where signals cannot be set) interrupts raise as usual.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    noted: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def note(signum, frame) -> None:
        if noted:
            raise _interrupt(signum)
        noted.append(signum)

    def raise_noted() -> None:
        if noted:
            raise _interrupt(noted[0])

    for sig in previous:
        signal.signal(sig, note)
    try:
        yield raise_noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
