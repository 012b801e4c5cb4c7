"""How many CPU threads and loader processes a run uses, chosen from the cores it may use.

One place for the choice, so pretraining, fine-tuning, the view module, evaluation and the
benchmarks agree. "The cores present" means this process's affinity mask (``taskset``, a
container's cpuset), not the machine's total: a process limited to 2 of 64 cores that starts
64 threads spends its time waiting for them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where threads are set, so this module stays light: the
    import torch  # data layouts (read by the config loader) ask it for loader workers


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
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def resolve_workers(num_workers: int, device: str | torch.device = "cpu",
                    in_memory: bool = False) -> int:
    """``data.num_workers``; ``-1`` (auto) chooses from the cores present and the data.

    On a GPU the model does not use the CPU: every core but the main process's decodes.
    On a CPU the workers take cores from the model's threads, and what a worker buys depends on
    the data (measured with ``benchmarks/loader.py --compare-workers 0 1 2``, AMD EPYC, 2
    cores):

    - data held in memory (``in_memory``: the synthetic set) cost little to load, so with 2
      cores or fewer a worker process only adds its copies and switches: the demo ran end to
      end at 86.5% of the model-only rate loading in the main process, 80% with one worker;
    - files: one worker decodes while the model steps (prepared 60x80 JPEG frames: 88 clips/s
      with one worker against 73 in the main process; a second added nothing).
    """
    if num_workers >= 0:
        return num_workers
    cores = available_cores()
    if str(device).split(":")[0] == "cuda":  # torch.device(device).type, without torch
        return max(1, min(cores - 1, 16))
    if in_memory and cores <= 2:
        return 0
    return 1 if cores > 1 else 0
