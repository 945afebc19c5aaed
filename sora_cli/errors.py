"""Errors the library raises; the CLI turns each into one line and its exit code.

Exit codes (documented in the README):
  0 success, 1 internal error, 2 usage, 3 bad input, 4 partial batch,
  5 generation or output failure, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""


class SoraError(Exception):
    exit_code = 1


class UsageError(SoraError):
    exit_code = 2


class BadInput(SoraError):
    """Anything the user handed us that we cannot use: prompt, file, size, model, weights."""

    exit_code = 3


class PartialBatch(SoraError):
    exit_code = 4


class GenerationFailed(SoraError):
    """Sampling or writing went wrong at run time: NaNs, a full disk, an encoder failure."""

    exit_code = 5


class Interrupted(SoraError):
    exit_code = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM (timeout, docker stop, systemd), raised in the main thread by the entry point's
    handler. A KeyboardInterrupt, so everything that cleans up after Ctrl-C (the encoder's
    child process, temp files, the batch manifest) cleans up after it too."""

    exit_code = 143
