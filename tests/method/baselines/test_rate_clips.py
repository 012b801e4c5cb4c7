"""Clips at a drawn frame step (the rate baselines' samples): only rates that fit are drawn,
and a key is another clip of the same video."""

from __future__ import annotations

import numpy as np
from helpers import frame_index_transform, index_source

from vidssl.method.baselines.rate_clips import RateClipDataset, rate_clip_indices


def test_rate_clip_on_a_short_video_only_draws_rates_that_fit() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx, k, wrapped = rate_clip_indices(20, 6, [1, 2, 4, 8], rng)
        assert not wrapped and k in (0, 1) and idx.max() < 20  # rate 4 needs 21 frames
    idx, k, wrapped = rate_clip_indices(4, 6, [2, 4], rng)
    assert wrapped and k == 0 and len(idx) == 6 and idx.max() < 4


def test_pace_key_is_another_clip_of_the_same_video() -> None:
    ds = RateClipDataset(index_source([300] * 4), frame_index_transform, [1, 2, 3, 4],
                         clip_len=6, seed=0, with_key=True)
    item = ds[2]
    assert item["key"].shape == item["clip"].shape
    assert int(item["index"]) == 2
