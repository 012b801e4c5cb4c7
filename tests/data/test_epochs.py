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


def test_sampler_numbers_the_passes_of_an_epoch_longer_than_the_data() -> None:
    # 3 videos, 7 samples: passes 0, 0, 0, 1, 1, 1, 2; sharded and resumed from the global order
    got = list(EpochSampler(3, 7, 0, 0, pairs=True))
    assert [r for _, _, r in got] == [0, 0, 0, 1, 1, 1, 2]
    assert sorted(i for _, i, r in got if r == 0) == [0, 1, 2]
    ranks = [list(EpochSampler(3, 4, 0, 0, rank=k, world_size=2, pairs=True)) for k in (0, 1)]
    assert [r for _, _, r in ranks[0]] == [0, 0, 1, 2]  # global positions 0, 2, 4, 6
    assert [r for _, _, r in ranks[1]] == [0, 1, 1, 2]  # 1, 3, 5, 7
    assert list(EpochSampler(3, 7, 0, 0, start=4, pairs=True)) == got[4:]


def test_a_video_read_twice_in_one_epoch_gets_two_different_clips() -> None:
    """train.steps_per_epoch beyond one pass (a small data set): every read of a video must be a
    new draw, or the order task memorises the epoch's few clips instead of learning order."""
    from tests.helpers import frame_index_transform, index_source
    from vidssl.data.datasets import PretextDataset
    from vidssl.data.sampling import PretextSampler

    def dataset() -> PretextDataset:
        return PretextDataset(index_source([200, 200]), PretextSampler(), frame_index_transform,
                              seed=0, with_key=False)

    sampler = EpochSampler(2, 16, 0, 3, pairs=True)
    loader = DataLoader(EpochIndexed(dataset()), batch_size=16, sampler=sampler)
    batch = next(iter(loader))
    clips = {}
    for (_, index, _repeat), clip in zip(sampler, batch["clip"]):
        clips.setdefault(index, []).append(tuple(clip.tolist()))
    assert all(len(set(c)) == len(c) == 8 for c in clips.values())  # 8 reads, 8 clips
    # pass 0 draws exactly what an epoch of one pass always drew
    plain = dataset()
    plain.set_epoch(3)
    for (_, index, repeat), clip in zip(sampler, batch["clip"]):
        if repeat == 0:
            assert torch.equal(clip, plain[index]["clip"])
