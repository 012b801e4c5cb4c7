"""Progress bars that suit both a terminal and a log file (one helper used by every command).

On a terminal a progress bar redraws itself in place with carriage returns, which is what a
person watching wants. Redirected to a file (``vidssl demo > demo.log 2>&1``, a batch job's
log) the same bar writes thousands of ``\\r`` updates into one ever-growing line: the log grows
to megabytes and reads as noise. So when the bar's stream is not a terminal, :func:`progress`
returns a bar that writes one plain line each time the work passes another
:data:`LOG_PERCENT` percent, and at least one line every :data:`LOG_SECONDS` seconds while
something is running (so a slow stage still shows it is alive), plus a final line at the end.

Both kinds are ``tqdm`` objects (iteration, ``update``, ``set_postfix``, ``close``, context
manager), so the calling code is the same for both.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from tqdm import tqdm

LOG_PERCENT = 5  # a log line each time progress passes another multiple of this
LOG_SECONDS = 60.0  # ... and at least one line this often while a stage runs


def _is_terminal(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-like object without isatty
        return False


class LogLineBar(tqdm):
    """A tqdm bar for log files: whole lines, every few percent or seconds, never ``\\r``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._line_pct = -1  # the last LOG_PERCENT bucket written (-1: none yet)
        self._line_t = -float("inf")
        self._line_n = -1
        kwargs["dynamic_ncols"] = False
        kwargs["ncols"] = None
        super().__init__(*args, **kwargs)

    def _bucket(self) -> int:
        if not self.total:
            return -1
        return int(100 * min(self.n, self.total) / self.total) // LOG_PERCENT

    def _write_line(self) -> None:
        self.fp.write(self.__str__() + "\n")
        self.fp.flush()
        self._line_pct = self._bucket()
        self._line_t = time.monotonic()
        self._line_n = self.n

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        """Write a line when a new LOG_PERCENT step is reached or LOG_SECONDS have passed."""
        if msg is not None:  # tqdm clears a bar with msg=''; a log keeps its lines
            return True
        now = time.monotonic()
        first = self._line_n < 0
        new_step = self._bucket() > self._line_pct
        stale = now - self._line_t >= LOG_SECONDS and self.n != self._line_n
        if first or new_step or stale:
            self._write_line()
        return True

    def close(self) -> None:
        """The final line (the end state and the overall rate), once, then release the bar."""
        if getattr(self, "disable", True):
            return
        if self.n != self._line_n:
            self._ema_dt = lambda: None  # the overall rate, as tqdm reports it at the end
            self._write_line()
        self.disable = True
        self._decr_instances(self)


def progress(iterable: Iterable[Any] | None = None, *, desc: str = "", total: float | None = None,
             unit: str = "it", initial: float = 0, disable: bool = False,
             file: IO[str] | None = None) -> tqdm:
    """A progress bar: tqdm's redrawing bar on a terminal, :class:`LogLineBar` otherwise.

    ``disable=True`` gives a silent bar (the same object to call, nothing written). The stream
    is ``file`` or standard error, as for tqdm.
    """
    stream = file if file is not None else sys.stderr
    kwargs: dict[str, Any] = dict(desc=desc, total=total, unit=unit, initial=initial,
                                  disable=disable, file=stream)
    if _is_terminal(stream):
        return tqdm(iterable, dynamic_ncols=True, **kwargs)
    return LogLineBar(iterable, **kwargs)

