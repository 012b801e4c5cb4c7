"""EpochSampler (order a function of seed and epoch, sharded, resumable) and EpochIndexed."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from vidssl.data.epochs import EpochIndexed, EpochSampler


def test_sampler_shards_reshuffles_and_continues_across_world_sizes() -> None:
    n, b = 12, 2

    def shard(epoch: int, rank: int, world: int, start: int = 0) -> list[int]:
        return list(EpochSampler(n, n // world, 0, epoch, start, rank, world))

    r0, r1 = shard(0, 0, 2), shard(0, 1, 2)
    assert sorted(r0 + r1) == list(range(n))  # disjoint shards covering every video
    assert shard(1, 0, 2) + shard(1, 1, 2) != r0 + r1  # a new order each epoch
    # 2 steps on 2 ranks consumed 2 * 2 * b samples; one process continues with the rest
    seen = [x for s in range(2) for r in (r0, r1) for x in r[s * b:(s + 1) * b]]
    rest = shard(0, 0, 1, start=2 * 2 * b)
    assert sorted(seen + rest) == list(range(n))


class _EpochEcho(Dataset):
    def __init__(self) -> None:
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor([self.epoch, i])


def test_persistent_workers_see_each_epoch_through_the_sampler() -> None:
    sampler = EpochSampler(4, 4, 0, 0, pairs=True)
    loader = DataLoader(EpochIndexed(_EpochEcho()), batch_size=2, sampler=sampler,
                        num_workers=1, persistent_workers=True)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        items = torch.cat(list(loader))
        assert items[:, 0].tolist() == [epoch] * 4
        assert sorted(items[:, 1].tolist()) == [0, 1, 2, 3]
    assert EpochIndexed(_EpochEcho())[3].tolist() == [0, 3]  # plain ints still work
