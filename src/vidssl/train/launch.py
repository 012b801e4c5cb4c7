"""``--nproc N``: start the same command under torchrun, so users need not spell it out."""

from __future__ import annotations

import subprocess
import sys


def strip_nproc(argv: list[str]) -> list[str]:
    """The command line without ``--nproc N`` / ``--nproc=N`` (the children must not relaunch)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        out.append(a)
    return out


def relaunch_with_torchrun(nproc: int, argv: list[str]) -> int:
    """Run ``python -m torch.distributed.run --nproc_per_node N -m vidssl ARGV``; its exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "vidssl", *strip_nproc(argv)]
    return subprocess.call(cmd)
