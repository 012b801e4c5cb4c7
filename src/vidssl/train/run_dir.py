"""An output folder a training run owns: never clobbered, one writer at a time, kept tidy.

Why: a run is days of compute. A second command pointed at the same folder must not overwrite
its checkpoint or interleave its logs, and a resumed run must be the run that was started.

- :func:`claim_run_dir` checks the folder (not a file), takes an exclusive ``fcntl.flock`` on
  ``.vidssl.lock`` in it for the run's lifetime, and removes what a killed run left half
  written. The operating system drops the lock when the holding process ends, however it ends
  (``kill -9`` included), so a stale lock never blocks; a second live run stops at once with a
  message naming the holder.
- :func:`refuse_existing_run` / :func:`clear_run` implement "refuse unless ``--resume`` or
  ``--overwrite``"; :func:`start_fresh` is that rule for a command starting a new run.
- :func:`config_changes` compares the config a run was started with to the one it is resumed
  with: what changes the run is refused, what may change is returned for the caller to apply
  and record (see :data:`MAY_CHANGE_ON_RESUME`).
- :func:`experiment_dict` is a config as an *experiment*: without the keys that only say where
  and how fast it runs, so a folder's finished work can be recognised (and reused) or refused
  (``vidssl compare``, ``vidssl demo``: :func:`vidssl.train.pretrain.ensure_pretrained`);
  :func:`recorded_config` is what a folder says it was made with.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import os
import pickle
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from vidssl.config import Config, rename_old_keys, upgrade_legacy_keys
from vidssl.errors import RunDirError
from vidssl.train.checkpoint import load_checkpoint

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, folders are not guarded
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".vidssl.lock"

# Keys a resumed pretraining may change: where and how fast it runs, how long it runs, how
# often it logs. Everything else (data, sampling, model, losses, optimizer, schedule, seed,
# precision) changes what the run computes, so a resume that differs there is refused.
# ``optim.lr`` is deliberately not here: the optimizer and scheduler state saved in the
# checkpoint carry the learning rate, and a resume is promised to equal an uninterrupted run.
MAY_CHANGE_ON_RESUME: tuple[str, ...] = (
    "name",
    "train.epochs",
    "train.out_dir",
    "train.device",
    "train.threads",
    "train.compile",
    "train.channels_last",
    "train.log_every",
    "train.eval_every",
    "train.checkpoint_every",
    "data.num_workers",
    "data.root",
    "data.split_dir",
    "eval.",
    "finetune.",
)


def prepare_out_dir(out: str | Path, key: str = "train.out_dir") -> Path:
    """``out`` as a folder that exists; a path that is a file (or lies under one) is refused
    before anything is built, naming the option."""
    out = Path(out)
    named = f"{key} {out}" if key.startswith("-") else f"{key}={out}"
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{named} is a file, not a folder; choose another output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RunDirError(f"{named}: a part of the path is a file, not a folder") from None
    except PermissionError:
        raise RunDirError(f"{named}: no permission to create this folder") from None
    return out


class RunLock:
    """An exclusive lock on an output folder (``flock`` on ``.vidssl.lock``).

    The lock file stays in the folder after the run (deleting it would race with a process
    that has just opened it); only the ``flock`` matters, and it dies with its process.
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_NAME
        self._fh: Any = None

    def acquire(self) -> None:
        if fcntl is None:
            return
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RunDirError(
                f"{self.path.parent} is in use by another vidssl run ({holder}); wait for it "
                "to finish, stop it, or choose another output folder"
            ) from None
        fh.seek(0)
        fh.truncate()
        started = datetime.datetime.now().isoformat(timespec="seconds")
        fh.write(f"pid {os.getpid()}, '{' '.join(sys.argv[:3])}', since {started}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            with contextlib.suppress(OSError):
                fh.seek(0)
                fh.truncate()
            fh.close()  # closing drops the flock


def clean_stale_temp_files(out: Path) -> list[Path]:
    """Remove what a killed writer left half done in ``out``: ``.NAME.XXXX.tmp`` of
    :func:`~vidssl.train.checkpoint.save_checkpoint` (up to a full checkpoint in size),
    ``NAME.csv.tmp`` of the metrics logger and ``.NAME.tmp`` of the reports.

    Only safe while holding the folder's lock: no live writer can own them then.
    """
    removed = []
    for p in out.iterdir():
        stale = (p.name.startswith(".") and p.name.endswith(".tmp")) or p.name.endswith(
            ".csv.tmp")
        if stale and p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


@contextlib.contextmanager
def claim_run_dir(out: str | Path, *, enabled: bool = True,
                  key: str = "train.out_dir") -> Iterator[Path]:
    """Hold ``out`` for a run: a folder (created), locked, without stale temporary files.

    ``enabled=False`` (the non-zero ranks of a multi-process job) only returns the path:
    rank 0 owns the folder.
    """
    out = Path(out)
    if not enabled:
        yield out
        return
    out = prepare_out_dir(out, key)
    lock = RunLock(out)
    lock.acquire()
    try:
        clean_stale_temp_files(out)
        yield out
    finally:
        lock.release()


def describe_checkpoint(path: Path) -> str:
    """``"epoch 3 of 10"`` for a training checkpoint, or "" when it cannot be read cheaply."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        done = int(ckpt["epoch"])
        total = ckpt["config"]["train"]["epochs"] if "kind" not in ckpt or ckpt.get(
            "kind") == "pretrain" else ckpt["config"]["finetune"]["epochs"]
        return f"epoch {done} of {total}"
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, EOFError,
            pickle.UnpicklingError):  # only words for a message; the run is refused anyway
        return ""


def refuse_existing_run(checkpoint: Path, *, resume_hint: str = "",
                        overwrite_hint: str = "--overwrite") -> None:
    """Stop when ``checkpoint`` exists: a fresh start would overwrite a run."""
    if not checkpoint.is_file():
        return
    state = describe_checkpoint(checkpoint)
    state = f" ({state})" if state else ""
    options = ([f"continue it with {resume_hint}"] if resume_hint else []) + [
        f"start again with {overwrite_hint} (deletes it)", "choose another output folder"]
    first = ", ".join(options[:-1])
    raise RunDirError(
        f"{checkpoint.parent} already holds a run: {checkpoint.name}{state}. "
        f"{first[0].upper()}{first[1:]}, or {options[-1]}"
    )


def clear_run(out: Path, names: Sequence[str]) -> list[Path]:
    """Delete a previous run's own files ``names`` (files or folders) from ``out``; return the
    ones removed. Nothing else in the folder is touched."""
    removed = []
    for name in names:
        p = out / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
            removed.append(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
            removed.append(p)
    return removed


def start_fresh(out: Path, overwrite: bool, *, checkpoint: str, run_files: Sequence[str],
                logs: Sequence[str], derived: Sequence[str] = ()) -> None:
    """A new run in ``out`` (``vidssl pretrain``, ``vidssl pretrain-view``): refuse to
    overwrite the run whose ``checkpoint`` is there unless ``overwrite``; with it, delete that
    run's own files ``run_files`` and name what is left that describes it (``derived``: glob
    patterns of outputs other commands wrote next to its checkpoint). Without a checkpoint,
    the ``logs`` of a run that saved nothing are removed, so the new run's rows start clean."""
    last = out / checkpoint
    if not overwrite:
        refuse_existing_run(last, resume_hint=f"--resume {last}", overwrite_hint="--overwrite")
        clear_run(out, logs)
        return
    removed = clear_run(out, run_files)
    if removed:
        tqdm.write(f"vidssl: --overwrite: deleted the earlier run in {out} ("
                   + ", ".join(p.name for p in removed) + ")", file=sys.stderr)
    stale = sorted({p.name for pat in derived for p in out.glob(pat)})
    if stale:
        tqdm.write(f"vidssl: warning: {out} still holds results of the deleted run, which do "
                   "not describe the new checkpoint: " + ", ".join(stale[:8])
                   + (" ..." if len(stale) > 8 else ""), file=sys.stderr)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and k != "backbone_args":
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_changes(old: dict[str, Any], new: dict[str, Any], what: str,
                   may_change: Sequence[str] = MAY_CHANGE_ON_RESUME) -> dict[str, list[Any]]:
    """``{key: [old, new]}`` of the settings that differ and may change on resume.

    A difference in any other key raises :class:`RunDirError` listing them all with both
    values: resuming under another config would continue a run that was never started.
    """
    a, b = _flatten(old), _flatten(new)
    changed = {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}

    def allowed(k: str) -> bool:
        return any(k == m or (m.endswith(".") and k.startswith(m)) for m in may_change)

    refused = {k: v for k, v in changed.items() if not allowed(k)}
    if refused:
        shown = "; ".join(f"{k}: {v[0]!r} in the checkpoint, {v[1]!r} now"
                          for k, v in list(refused.items())[:6])
        more = f" (and {len(refused) - 6} more)" if len(refused) > 6 else ""
        raise RunDirError(
            f"{what}: the config differs from the one the run was started with, in settings "
            f"that change the run: {shown}{more}. Resume with the run's own config "
            "(config.yaml in its folder), or start a new run in another folder"
        )
    return changed


# --------------------------------------------------------------------------------------------
# Which experiment a folder holds
# --------------------------------------------------------------------------------------------

# Settings that change how a run executes but not what it computes: a change is not a new
# experiment (moving a finished comparison to a GPU must not invalidate it).
_EXECUTION_KEYS = {
    "data": ("num_workers",),
    "train": ("device", "threads", "log_every", "out_dir", "checkpoint_every", "compile"),
}
# Settings that only say which videos form the val split: only val evaluations depend on them
# (and runs from before the val split existed, whose configs lack them, stay valid).
_VAL_KEYS = (("data", "val_list"), ("data", "synthetic", "val_per_class"))
# Keys added later whose default is what ran before they existed: a dict read from an older
# folder gets them, so its finished work is still recognised. Only keys whose default
# reproduces the old behaviour belong here (the realism knobs: -1 = the variant's value, 0 for
# motion and direction, the only variants then); a key whose default changed what runs (such as
# contrastive.exclude_own_video) must not be filled in.
_ADDED_KEYS: dict[tuple[str, ...], Any] = {
    ("data", "synthetic", "scene_bias"): -1.0,
    ("data", "synthetic", "camera"): -1.0,
}


def _section(d: dict[str, Any], path: Sequence[str]) -> dict[str, Any] | None:
    """The nested section ``d[path[0]][path[1]]...``, or None where it is missing."""
    node: Any = d
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def experiment_dict(cfg: Config | dict[str, Any], drop: Sequence[str] = (),
                    with_val: bool = False) -> dict[str, Any]:
    """The config as a dict without execution-only keys (and without sections in ``drop``);
    the val split's keys only ``with_val`` (for results on val)."""
    # a dict read from an older run folder gets today's key names (and the keys added since
    # with what ran before them), so it compares equal
    d = copy.deepcopy(cfg.to_dict() if isinstance(cfg, Config)
                      else rename_old_keys(upgrade_legacy_keys(cfg, note=False)))
    for (*path, key), value in _ADDED_KEYS.items():
        node = _section(d, path)
        if node is not None:
            node.setdefault(key, value)
    d.pop("name", None)
    for section, keys in _EXECUTION_KEYS.items():
        for k in keys:
            d.get(section, {}).pop(k, None)
    if not with_val:
        for *path, key in _VAL_KEYS:
            node = _section(d, path)
            if node is not None:
                node.pop(key, None)
    for section in drop:
        d.pop(section, None)
    return d


def _read_yaml(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with path.open() as fh:
        return yaml.safe_load(fh) or {}


def first_difference(a: Any, b: Any, prefix: str = "") -> str:
    """``key: old then, new now`` for the first key (sorted, dotted) where two configs differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
    return f"{prefix}: {a!r} then, {b!r} now"


def recorded_config(out: Path, ckpt: Path, who: str, hint: str) -> dict[str, Any] | None:
    """The config a run folder was made with: its ``config.yaml``, else (a folder that lost
    it) the config its checkpoint stores; ``None`` for a folder with neither (nothing ran).
    A checkpoint with nothing to check it against is refused: reusing it could report results
    under a name that is not what ran."""
    old = _read_yaml(out / "config.yaml")
    if old is not None or not ckpt.is_file():
        return old
    stored = load_checkpoint(ckpt, map_location="cpu").get("config")
    if not isinstance(stored, dict):
        raise RunDirError(f"{who}: {ckpt} has no config.yaml beside it and stores no config, "
                          f"so nothing says what it was trained with; {hint}")
    return stored
