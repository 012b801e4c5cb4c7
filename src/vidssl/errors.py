"""The errors a user can cause: the command line prints them as one line and exits with 2.

Why a family: a user's mistake (a wrong path, a damaged file, an impossible config value, a
folder another run is writing) deserves one clear line that names the file, key or line, never
a Python traceback; a traceback is for our own bugs. Every such error derives from
:class:`UserError`, which ``vidssl.cli`` catches; anything else still shows its traceback.

Each subclass also derives from the built-in type that code and tests caught before this
family existed (``ValueError``, ``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import errno
import re


class UserError(Exception):
    """A mistake in what the user gave us (or a state of their machine), not a bug of ours.

    The message is shown as is after ``vidssl:``; it names the offending file, key or line.
    """

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(_original_message(str(message)), *args)


def _original_message(text: str) -> str:
    """The user's one line out of a DataLoader worker's re-raised error.

    A worker process that raises sends its formatted traceback to the main process, which
    raises ``type(exc)("Caught X in DataLoader worker process N. Original Traceback ...")``;
    for a user error we keep only the original message (the traceback's last line).
    """
    if not (text.startswith("Caught ") and "Original Traceback" in text):
        return text
    last = [ln for ln in text.strip().splitlines() if ln.strip()][-1]
    return re.sub(r"^[\w.]+(Error|Exception): ", "", last.strip())


class ConfigError(UserError, ValueError):
    """A config key is unknown, has the wrong type, or holds an impossible value.

    Defined here, not in ``vidssl.config`` (which re-exports it), so the method registry can
    raise it without importing the config module that consults the registry.
    """


class RunDirError(UserError):
    """An output folder holds a run we must not overwrite, is locked by a running process, or
    is not a folder at all."""


class CheckpointError(UserError, ValueError):
    """A checkpoint cannot be read, is of another kind, or does not fit what it is used for."""


class DataError(UserError, RuntimeError):
    """A data set cannot feed the run: no videos, fewer than one batch, none readable."""


class MissingExtraError(UserError, ImportError):
    """An optional feature was asked for whose package is not installed; the message names
    the pip extra that installs it."""


class DiskFullError(UserError, OSError):
    """The disk (or quota) filled up while writing; the previous checkpoint is intact."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` or an error it was raised from is "no space left on device".

    torch's zip writer reports a failed write as a ``RuntimeError`` whose cause (or context)
    is the ``OSError``; we follow that chain.
    """
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, RuntimeError) and "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite during training; the message names the step and the
    term. Not a user's typo but not our bug either (a learning rate too high, bad data): every
    command prints it as one line and exits with 3, keeping the last good checkpoint."""

