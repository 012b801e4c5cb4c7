"""The pretext sampler's clips obey DESIGN section 1, and the reader returns those frames."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import decode_index
from hypothesis import given, settings
from hypothesis import strategies as st

from vidssl.data.sampling import (
    PretextSampler,
    index_permutation,
    permutation_index,
    random_clip_indices,
    uniform_clip_indices,
)
from vidssl.data.video import open_video


def check_clip(clip, sampler: PretextSampler, num_frames: int) -> None:
    n, T = sampler.n_segments, sampler.clip_len
    assert len(clip.indices) == T and len(clip.segments) == n
    assert sorted(clip.perm) == list(range(n))
    assert list(itertools.permutations(range(n)))[clip.order] == tuple(clip.perm)
    assert clip.lengths.sum() == T and (clip.lengths >= sampler.min_len).all()
    np.testing.assert_array_equal(np.concatenate(clip.segments), clip.indices)
    assert ((clip.indices >= 0) & (clip.indices < num_frames)).all()
    if clip.looped:
        assert num_frames < T and (clip.rates == 1).all()
        return
    # undo the shuffle: original segment perm[j] sits at clip position j
    original = [None] * n
    rates = [None] * n
    for j, p in enumerate(clip.perm):
        original[p] = clip.segments[j]
        rates[p] = int(clip.rates[j])
        assert len(clip.segments[j]) == clip.lengths[j]
    for i in range(n):
        seg = original[i]
        assert (np.diff(seg) == rates[i]).all()  # steps by its declared rate
        if i > 0:  # junction rule: r_{i+1} after the previous segment's last frame
            assert seg[0] == original[i - 1][-1] + rates[i]
    if not clip.capped:
        assert all(sampler.rate_min <= r <= sampler.rate_max for r in rates)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(2, 5),
    extra=st.integers(0, 12),
    rate_min=st.integers(1, 4),
    rate_span=st.integers(0, 6),
    num_frames=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
    short=st.sampled_from(["loop", "pad"]),
)
def test_sampler_properties(n, extra, rate_min, rate_span, num_frames, seed, short):
    sampler = PretextSampler(
        clip_len=3 * n + extra,
        n_segments=n,
        rate_min=rate_min,
        rate_max=rate_min + rate_span,
        short_video=short,
    )
    clip = sampler.sample(num_frames, np.random.default_rng(seed))
    check_clip(clip, sampler, num_frames)
    assert clip.looped == (num_frames < sampler.clip_len)


def test_short_video_fallbacks():
    rng = np.random.default_rng(0)
    loop = PretextSampler(short_video="loop").sample(10, rng)
    assert loop.looped and sorted(set(loop.indices)) == list(range(10))
    pad = PretextSampler(short_video="pad").sample(10, rng)
    assert pad.looped and pad.indices.max() == 9 and (np.sort(pad.indices) <= 9).all()
    capped = PretextSampler().sample(40, rng)  # 40 frames: rates up to (40-1)//15 = 2
    assert not capped.looped and capped.rates.max() <= 2


def test_orders_and_rates_are_spread():
    sampler = PretextSampler()
    rng = np.random.default_rng(1)
    clips = [sampler.sample(500, rng) for _ in range(600)]
    assert {c.order for c in clips} == set(range(6))
    assert {int(r) for c in clips for r in c.rates} == set(range(1, 9))


def test_permutation_index_roundtrip():
    for n in range(1, 6):
        for i, perm in enumerate(itertools.permutations(range(n))):
            assert permutation_index(perm) == i and index_permutation(i, n) == perm


@pytest.mark.parametrize("kind", ["h264.mp4", "mpeg4.avi", "img_folder"])
def test_sampled_frames_are_the_named_frames(coded_videos, kind):
    video = open_video(coded_videos[kind])
    for n in range(2, 6):
        sampler = PretextSampler(clip_len=16, n_segments=n)
        for seed in range(3):
            clip = sampler.sample(video.num_frames, np.random.default_rng([seed, n]))
            check_clip(clip, sampler, video.num_frames)
            np.testing.assert_array_equal(decode_index(video.frames(clip.indices)), clip.indices)


def test_evaluation_clip_positions():
    clips = uniform_clip_indices(100, 16, 1, 10)
    centres = clips[:, 8]  # frame 8 of 16 = the centre position
    np.testing.assert_array_equal(centres, np.round(np.linspace(8, 92, 10)).astype(int))
    assert (np.diff(clips, axis=1) == 1).all()
    short = uniform_clip_indices(10, 16, 1, 3)
    assert short.shape == (3, 16) and short.max() == 9  # loops
    rnd = random_clip_indices(100, 16, 2, np.random.default_rng(0))
    assert (np.diff(rnd) == 2).all() and rnd.max() < 100
