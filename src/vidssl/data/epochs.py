"""Which samples an epoch reads, in which order, and how the epoch reaches DataLoader workers.

:class:`EpochSampler` makes the order a function of (seed, epoch) only, so a killed run resumes
mid-epoch on the same samples and the order does not depend on the number of processes.
:class:`EpochIndexed` lets the loader's *sampler* carry the epoch to the dataset inside
``(epoch, index, repeat)`` keys, because persistent DataLoader workers keep their own copy of
the dataset and never see a ``set_epoch`` made in the main process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Sampler


class EpochSampler(Sampler[int]):
    """The sample order of one epoch, a function of (seed, epoch) only, startable mid-epoch.

    With ``num_samples`` larger than the dataset the order cycles through fresh permutations, so
    a fixed number of steps per epoch works on any dataset size. Under DDP each rank takes every
    ``world_size``-th index of the same global order (disjoint shards, reshuffled per epoch);
    the global order does not depend on the number of processes, so a resume with another
    ``world_size`` continues the same sequence of samples.

    ``pairs=True`` yields ``(epoch, index, repeat)`` for :class:`EpochIndexed`, ``repeat``
    being the pass over the data that position belongs to (0 in the first ``dataset_len``
    samples of the global order, 1 in the next, ...), so that a video read twice in one epoch
    gets two different draws: one loader (and its persistent workers) then serves every epoch,
    moved on by :meth:`set_epoch` in the main process, where the sampler runs.
    """

    def __init__(self, dataset_len: int, num_samples: int, seed: int, epoch: int,
                 start: int = 0, rank: int = 0, world_size: int = 1,
                 pairs: bool = False) -> None:
        self.n = dataset_len
        self.num_samples = num_samples
        self.seed, self.epoch, self.start = seed, epoch, start
        self.rank, self.world_size = rank, world_size
        self.pairs = pairs

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Serve ``epoch`` from its ``start``-th sample of this rank (a mid-epoch resume)."""
        self.epoch, self.start = epoch, start

    def global_order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch, 7919])
        total = self.num_samples * self.world_size
        reps = -(-total // self.n)
        return np.concatenate([rng.permutation(self.n) for _ in range(reps)])[:total]

    def __iter__(self) -> Iterator[Any]:
        order = self.global_order()
        mine = order[self.rank :: self.world_size][self.start :].tolist()
        if self.pairs:
            passes = (np.arange(len(order)) // self.n)[self.rank :: self.world_size]
            return iter([(self.epoch, i, int(r))
                         for i, r in zip(mine, passes[self.start :].tolist())])
        return iter(mine)

    def __len__(self) -> int:
        return self.num_samples - self.start


class EpochIndexed(Dataset):
    """A dataset indexed by ``(epoch, index, repeat)`` keys (or plain ints) over one with
    ``set_epoch``.

    Persistent workers hold a copy of the dataset made when they started; ``set_epoch`` in the
    main process would never reach them, and every epoch would repeat epoch 0's random draws.
    With the epoch inside each index, each worker's copy sets its own epoch before reading; a
    ``repeat`` > 0 (a second pass over the data in one epoch) reaches it as
    ``set_epoch(epoch, repeat=repeat)``.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._epoch: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        # skip_log, source, ... of the wrapped dataset (no recursion before __init__ ran)
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key: int | tuple[int, int, int]) -> Any:
        if isinstance(key, tuple):
            epoch, index, repeat = key
            now = (int(epoch), int(repeat))
            if now != self._epoch and hasattr(self.dataset, "set_epoch"):
                if now[1]:
                    self.dataset.set_epoch(now[0], repeat=now[1])
                else:  # a dataset whose set_epoch knows no passes works as before
                    self.dataset.set_epoch(now[0])
                self._epoch = now
            return self.dataset[int(index)]
        return self.dataset[int(key)]
