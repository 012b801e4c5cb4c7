"""User errors: one line even when a DataLoader worker re-raised them, and a full disk is
recognised through the chain torch wraps it in."""

from __future__ import annotations

import errno

from vidssl.errors import ConfigError, DataError, UserError, is_disk_full


def test_a_worker_reraised_user_error_keeps_the_users_line() -> None:
    text = ("Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent "
            "call last):\n  File \"x.py\", line 1, in f\nvidssl.errors.DataError: a.mp4: bad\n")
    assert str(DataError(text)) == "a.mp4: bad"
    assert str(ConfigError("train.epochs must be >= 1")) == "train.epochs must be >= 1"
    assert issubclass(ConfigError, UserError) and issubclass(ConfigError, ValueError)


def test_disk_full_is_found_through_causes() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    wrapped = RuntimeError("PytorchStreamWriter failed writing file")
    wrapped.__cause__ = full
    assert is_disk_full(full) and is_disk_full(wrapped)
    assert is_disk_full(RuntimeError("[Errno 28] No space left on device"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(None)
