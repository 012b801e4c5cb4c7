"""Fault test: pretraining killed with SIGKILL at random points, over and over.

A run is killed 15 times: during start-up, during a training step and in the middle of a
checkpoint write (the write is slowed down so a kill can land inside it, leaving a half-written
temporary file). After every kill the folder must hold a loadable checkpoint (or none yet), the
next start must not be blocked by the dead run's lock, must remove its half-written file, and
resuming after each kill must end with exactly the weights of an uninterrupted run.

Runs are forked from the test process (no interpreter start-up per kill) with a tiny network,
one step per epoch and a checkpoint per epoch, so the whole test takes a few seconds of CPU.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from vidssl.config import load_config
from vidssl.train.checkpoint import load_checkpoint
from vidssl.train.pretrain import pretrain

sys.path.insert(0, str(Path(__file__).parent))
from test_pretrain import TINY  # noqa: E402

EPOCHS = 16
FAULT = TINY + [
    f"train.epochs={EPOCHS}", "train.steps_per_epoch=1", "train.checkpoint_every=1",
    "sampler.clip_len=8", "sampler.min_len=2", "data.synthetic.size=16",
    "data.synthetic.min_frames=24", "data.synthetic.max_frames=24", "data.resize=[16,16]",
    "data.crop=16",
]
SLOW_WRITE = 0.1  # seconds per MB: a checkpoint write (3 MB) lasts about 0.3 s
# (mode, n): kill during the n-th checkpoint write of the child ("write"), at a random moment
# of the step after its n-th write ("step"), or at a random moment of its start-up ("early")
ROUNDS = [("write", 1), ("write", 2), ("step", 1), ("step", 2), ("early", 0)] * 3


class _SlowFile:
    """A file that pauses after each write (``SLOW_WRITE`` seconds per MB), so that a kill can
    land in the middle of a checkpoint write (tiny checkpoints are written too fast to hit)."""

    def __init__(self, fh) -> None:
        self.fh = fh

    def write(self, data) -> int:
        n = self.fh.write(data)
        self.fh.flush()  # the half-written file is on disk, as a real kill would find it
        time.sleep(len(data) * SLOW_WRITE / 1e6)
        return n

    def flush(self) -> None:
        self.fh.flush()


def _child(out: str, resume: str | None) -> None:
    # a forked process of its own: slowing torch.save here changes nothing in the test process
    real_save = torch.save
    torch.save = lambda obj, f, *args, **kwargs: real_save(obj, _SlowFile(f), *args, **kwargs)
    torch.set_num_threads(1)
    cfg = load_config(None, FAULT + [f"train.out_dir={out}"])
    pretrain(cfg, resume=resume, progress=False)


def _writing(out: Path, stale: set[Path]) -> bool:
    """A checkpoint write of the current child is under way (its temporary file exists)."""
    return out.is_dir() and bool(set(out.glob(".checkpoint.pt.*.tmp")) - stale)


def _start(out: Path) -> mp.Process:
    ckpt = out / "checkpoint.pt"
    p = mp.get_context("fork").Process(
        target=_child, args=(str(out), str(ckpt) if ckpt.is_file() else None), daemon=True)
    p.start()
    return p


def _wait(cond, p: mp.Process, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while p.is_alive() and not cond():
        if time.monotonic() > end:
            p.kill()
            raise AssertionError("the child run made no progress")
        time.sleep(0.002)


def _kill_round(out: Path, mode: str, n: int, rng: random.Random) -> str:
    """Start (or resume) the run and SIGKILL it as ``mode`` says; return where it landed:
    "write" (a checkpoint write was under way), "other", or "finished" (no kill)."""
    stale = set(out.glob(".checkpoint.pt.*.tmp")) if out.is_dir() else set()
    p = _start(out)
    if mode == "early":
        time.sleep(rng.uniform(0.0, 0.4))
    else:
        for _ in range(n):  # wait for the n-th write of this child to begin
            _wait(lambda: not _writing(out, stale), p)
            _wait(lambda: _writing(out, stale), p)
        if mode == "write":
            time.sleep(rng.uniform(0.0, 0.1))
        else:
            _wait(lambda: not _writing(out, stale), p)
            time.sleep(rng.uniform(0.0, 0.3))
    if not p.is_alive():
        p.join()
        return "finished"
    landed = "write" if _writing(out, stale) else "other"
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    return landed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_at_random_points_always_resumes_to_the_uninterrupted_weights(
        tmp_path: Path) -> None:
    reference = load_checkpoint(pretrain(
        load_config(None, FAULT + [f"train.out_dir={tmp_path / 'reference'}"]), progress=False))

    out = tmp_path / "killed"
    rng = random.Random(12)
    rounds = ROUNDS.copy()
    rng.shuffle(rounds)
    landed: list[str] = []
    epochs_seen = [0]
    for mode, n in rounds:
        landed.append(_kill_round(out, mode, n, rng))
        ckpt = out / "checkpoint.pt"
        if ckpt.is_file():  # whatever the kill hit, the checkpoint in place is whole
            state = load_checkpoint(ckpt)
            assert state["epoch"] >= epochs_seen[-1] and state["kind"] == "pretrain"
            epochs_seen.append(state["epoch"])
    kills = [x for x in landed if x != "finished"]
    assert len(kills) >= 10, landed
    assert kills.count("write") >= 4, landed  # some kills hit a checkpoint write

    p = _start(out)  # the last start runs to the end
    p.join(timeout=120)
    assert p.exitcode == 0
    final = load_checkpoint(out / "checkpoint.pt")
    assert (final["epoch"], final["step"]) == (EPOCHS, reference["step"])
    assert final["model"].keys() == reference["model"].keys()
    for k, v in reference["model"].items():  # weights, key encoder and queue
        assert torch.equal(v, final["model"][k]), k
    assert not list(out.glob(".checkpoint.pt.*.tmp"))  # half-written files were cleaned up
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + EPOCHS  # one row per epoch, none doubled by the restarts
