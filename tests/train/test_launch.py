"""``--nproc N`` re-runs the same command under torchrun, without ``--nproc`` (the children
must not relaunch) and with everything else as given."""

from __future__ import annotations

import sys

from vidssl.train import launch


def test_nproc_is_stripped_in_both_spellings() -> None:
    argv = ["pretrain", "--nproc", "2", "--config", "c.yaml", "--nproc=4", "train.epochs=1"]
    assert launch.strip_nproc(argv) == ["pretrain", "--config", "c.yaml", "train.epochs=1"]


def test_relaunch_runs_torchrun_with_the_rest(monkeypatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(launch.subprocess, "call", lambda cmd: seen.append(cmd) or 7)
    assert launch.relaunch_with_torchrun(2, ["finetune", "--nproc", "2", "--out", "o"]) == 7
    assert seen == [[sys.executable, "-m", "torch.distributed.run", "--standalone",
                     "--nproc_per_node=2", "-m", "vidssl", "finetune", "--out", "o"]]
