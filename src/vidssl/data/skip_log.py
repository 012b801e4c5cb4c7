"""Skipped and short videos, counted across DataLoader workers (:class:`SkipLog`).

A run over a large data set meets some videos that cannot be decoded and some shorter than a
clip; it goes on without them and says, once per video and at the end of each epoch, which ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import weakref
from typing import Any

log = logging.getLogger("vidssl.data")


class SkipLog:
    """Counts videos skipped (missing/undecodable) and clips drawn from too-short videos.

    DataLoader workers are separate processes, so counts live in a directory: each process
    appends one JSON line per event to its own file (``<pid>.jsonl``), and :meth:`summary`
    reads them all. The first process to skip a given video creates a marker file with
    ``O_EXCL`` and prints the one warning line for it; the others stay quiet. The object holds
    only the directory path, so it pickles into workers. Without ``directory`` a temporary one
    is made and removed when the creating process's SkipLog is garbage collected.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        if directory is None:
            _sweep_once()
            # the owner's pid in the name tells a later run whether the folder is stale
            self.directory = tempfile.mkdtemp(prefix=f"{SKIPLOG_PREFIX}{os.getpid()}-")
            self._finalizer = weakref.finalize(
                self, _remove_dir_if_owner, self.directory, os.getpid()
            )
        else:
            self.directory = str(directory)
            os.makedirs(self.directory, exist_ok=True)

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.directory = state["directory"]

    def _append(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event) + "\n").encode()
        fd = os.open(
            os.path.join(self.directory, f"{os.getpid()}.jsonl"),
            os.O_WRONLY | os.O_APPEND | os.O_CREAT,
            0o644,
        )
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def skipped(self, path: str, reason: str) -> None:
        """A video could not be read: count it, and warn once per video over all workers."""
        self._append({"kind": "skipped", "path": path, "reason": reason})
        marker = os.path.join(
            self.directory, "warned-" + hashlib.sha1(path.encode()).hexdigest()[:16]
        )
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return
        log.warning("skipping unreadable video %s", reason)

    def short(self, path: str, num_frames: int, needed: int) -> None:
        """A clip looped or padded because the video has fewer frames than the clip needs."""
        self._append({"kind": "short", "path": path, "frames": num_frames, "needed": needed})

    def events(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(os.listdir(self.directory)):
            if name.endswith(".jsonl"):
                with open(os.path.join(self.directory, name), encoding="utf-8") as fh:
                    out += [json.loads(ln) for ln in fh if ln.strip()]
        return out

    def counts(self) -> dict[str, int]:
        """Events so far: ``skipped`` reads, distinct ``skipped_videos``, ``short`` clips."""
        ev = self.events()
        skipped = [e for e in ev if e["kind"] == "skipped"]
        return {
            "skipped": len(skipped),
            "skipped_videos": len({e["path"] for e in skipped}),
            "short": sum(1 for e in ev if e["kind"] == "short"),
            "short_videos": len({e["path"] for e in ev if e["kind"] == "short"}),
        }

    def summary(self) -> str:
        """A few lines for the end-of-epoch log: counts and the skipped videos ("" if none)."""
        ev = self.events()
        skipped: dict[str, str] = {}
        for e in ev:
            if e["kind"] == "skipped":
                skipped.setdefault(e["path"], e["reason"])
        short = [e for e in ev if e["kind"] == "short"]
        if not skipped and not short:
            return ""
        lines = []
        if skipped:
            lines.append(f"{len(skipped)} video(s) skipped as unreadable:")
            lines += [f"  {reason}" for reason in skipped.values()]
        if short:
            videos = {e["path"] for e in short}
            lines.append(
                f"{len(short)} clip(s) from {len(videos)} video(s) shorter than the clip "
                "were looped or padded"
            )
        return "\n".join(lines)


SKIPLOG_PREFIX = "vidssl-skiplog-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_skip_logs(tmp_dir: str | None = None) -> list[str]:
    """Delete the temporary SkipLog folders of processes that no longer run (a killed run
    cannot remove its own); return their paths. Folders of live processes are kept."""
    tmp_dir = tmp_dir or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(tmp_dir)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(SKIPLOG_PREFIX):
            continue
        pid = name[len(SKIPLOG_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(tmp_dir, name), ignore_errors=True)
            removed.append(os.path.join(tmp_dir, name))
    return removed


_swept = False


def _sweep_once() -> None:
    """:func:`remove_stale_skip_logs`, once per process: the folders of runs killed before
    this one are gone after its first sweep, and every data set makes a SkipLog (a compare or
    an evaluation makes dozens), each of which would otherwise list the whole temp dir."""
    global _swept
    if not _swept:
        _swept = True
        remove_stale_skip_logs()


def _remove_dir_if_owner(directory: str, owner_pid: int) -> None:
    if os.getpid() == owner_pid:
        shutil.rmtree(directory, ignore_errors=True)
