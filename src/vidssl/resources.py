"""How many CPU threads and loader processes a run uses, chosen from the cores it may use.

One place for the choice, so pretraining, fine-tuning, the view module, evaluation and the
benchmarks agree. "The cores present" means this process's affinity mask (``taskset``, a
container's cpuset), not the machine's total: a process limited to 2 of 64 cores that starts
64 threads spends its time waiting for them.
"""

from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """CPU cores this process may run on: its affinity mask (taskset, a container's cpuset),
    not the machine's total, which would oversubscribe a restricted process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def configure_threads(threads: int) -> int:
    """Apply ``train.threads`` to torch and return the number of threads in use.

    ``N > 0``: N. ``0``: torch's setting as it stands, which by default is the cores this
    process may use (torch follows the affinity mask; ``torchrun`` and ``OMP_NUM_THREADS``
    lower it), so a caller that chose a number (a test harness, a notebook) keeps it.
    """
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def resolve_workers(num_workers: int, device: str | torch.device = "cpu") -> int:
    """``data.num_workers``; ``-1`` (auto) chooses from the cores present.

    On a GPU the model does not use the CPU: every core but the main process's decodes.
    On a CPU the workers take cores from the model's threads. With 2 cores or fewer there is no
    core to spare, and a worker process only adds its copies and switches: the demo's
    pretraining ran end to end at 87% of the model-only rate loading in the main process
    against 80% with one worker (``benchmarks/loader.py --compare-workers 0 1``, AMD EPYC, 2
    cores). With more cores one worker overlaps loading with the model's steps; more only slow
    the model down.
    """
    if num_workers >= 0:
        return num_workers
    cores = available_cores()
    if torch.device(device).type == "cuda":
        return max(1, min(cores - 1, 16))
    return 1 if cores > 2 else 0
