"""The clips each baseline trains on, drawn by the same loader machinery as the paper's method.

Every baseline reads videos through the same :class:`~vidssl.data.datasets.VideoSource`, the same
:class:`~vidssl.data.transforms.ClipTransform` and the same per-sample RNG and skip-and-replace
rules as ``PretextDataset`` (they subclass its base), so a comparison differs only in the pretext.

- VCOP (Xu et al. 2019): ``n`` clips of ``clip_len`` consecutive frames, ``gap`` frames apart
  (VCOP's code: 3 clips of 16 frames, interval 8), shuffled; label = index of the shuffle in
  ``itertools.permutations(range(n))``. Each clip gets its own augmentation draw, as in VCOP's
  code.
- Playback rate (PRP-style) and pace (Pace-style): one clip of ``clip_len`` frames taken every
  ``r`` raw frames, ``r`` drawn uniformly from a fixed set of rates; label = index of ``r`` in
  that set. Pace's contrastive term also takes a ``key``: a second clip of the same video at an
  independently drawn pace and position (the positive pair shares the video, not the pace).

Short videos never give a wrong label: a rate clip draws only among the rates whose span fits
the video (so the label is the frame step actually used); when none fits (fewer frames than the
clip), it takes the smallest rate and wraps around (index mod N), counted in the skip log like
the pretext sampler's loop fallback. A VCOP tuple that does not fit shrinks its gaps, then
wraps the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vidssl.data.datasets import SkipLog, VideoSource, _VideoDataset
from vidssl.data.sampling import permutation_index
from vidssl.data.transforms import ClipTransform
from vidssl.data.video import Video

# --------------------------------------------------------------------------------------------
# Frame indices
# --------------------------------------------------------------------------------------------


def vcop_tuple_indices(
    num_frames: int, clip_len: int, n_clips: int, gap: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """Raw indices ``(n_clips, clip_len)`` of ``n_clips`` consecutive-frame clips in time order.

    Clip ``i`` starts ``clip_len + gap`` frames after clip ``i - 1``; the tuple starts at a
    uniformly random position. Returns ``(indices, wrapped)``: a video too short for the gaps
    gets the largest gap that fits; one shorter than ``n_clips * clip_len`` wraps around.
    """
    if num_frames < 1:
        raise ValueError(f"cannot sample a clip from a video of {num_frames} frames")
    body = n_clips * clip_len
    if body + (n_clips - 1) * gap > num_frames:
        gap = max(0, (num_frames - body) // max(1, n_clips - 1))
    span = body + (n_clips - 1) * gap
    wrapped = span > num_frames
    start = 0 if wrapped else int(rng.integers(0, num_frames - span + 1))
    starts = start + np.arange(n_clips, dtype=np.int64) * (clip_len + gap)
    idx = starts[:, None] + np.arange(clip_len, dtype=np.int64)[None, :]
    return idx % num_frames, wrapped


def rate_clip_indices(
    num_frames: int, clip_len: int, rates: Sequence[int], rng: np.random.Generator
) -> tuple[np.ndarray, int, bool]:
    """``clip_len`` raw indices ``r`` apart, ``r = rates[k]`` for a uniformly drawn ``k``.

    Only rates whose span ``(clip_len - 1) * r + 1`` fits are drawn from; returns
    ``(indices, k, wrapped)``, where ``wrapped`` means no rate fitted and the smallest one
    wraps around the video.
    """
    if num_frames < 1:
        raise ValueError(f"cannot sample a clip from a video of {num_frames} frames")
    fits = [k for k, r in enumerate(rates) if (clip_len - 1) * r + 1 <= num_frames]
    wrapped = not fits
    if wrapped:
        k = int(np.argmin(rates))
    else:
        k = fits[int(rng.integers(len(fits)))]
    r = int(rates[k])
    span = (clip_len - 1) * r + 1
    start = 0 if wrapped else int(rng.integers(0, num_frames - span + 1))
    idx = start + np.arange(clip_len, dtype=np.int64) * r
    return idx % num_frames, k, wrapped


def power_of_two_rates(rate_min: int, rate_max: int) -> list[int]:
    """PRP's rate set: the powers of two in ``[rate_min, rate_max]`` (1..8 -> 1, 2, 4, 8)."""
    out, r = [], 1
    while r <= rate_max:
        if r >= rate_min:
            out.append(r)
        r *= 2
    return out


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


class VCOPDataset(_VideoDataset):
    """VCOP tuples: ``clip (n, 3, T, H, W)`` in shuffled order, ``order``, ``label``, ``index``.

    Clip position ``j`` holds the clip that came ``perm[j]``-th in time, and
    ``order = permutation_index(perm)``, the convention of the paper's pretext clip.
    """

    def __init__(
        self,
        source: VideoSource,
        transform: ClipTransform,
        clip_len: int = 16,
        n_clips: int = 3,
        gap: int = 8,
        seed: int = 0,
        skip_log: SkipLog | None = None,
    ) -> None:
        super().__init__(source, seed, skip_log)
        if n_clips < 2:
            raise ValueError(f"VCOP needs >= 2 clips; got {n_clips}")
        self.transform = transform
        self.clip_len = clip_len
        self.n_clips = n_clips
        self.gap = gap

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        idx, wrapped = vcop_tuple_indices(
            video.num_frames, self.clip_len, self.n_clips, self.gap, rng
        )
        if wrapped:
            self.skip_log.short(video.path, video.num_frames, self.n_clips * self.clip_len)
        perm = [int(p) for p in rng.permutation(self.n_clips)]
        frames = self._frames(video, idx[perm].reshape(-1))
        T = self.clip_len
        clips = [self.transform(frames[j * T : (j + 1) * T], rng) for j in range(self.n_clips)]
        return {
            "clip": torch.stack(clips),
            "order": torch.tensor(permutation_index(perm), dtype=torch.int64),
        }


class RateClipDataset(_VideoDataset):
    """One clip at a drawn rate: ``clip (3, T, H, W)``, ``rate`` (class index into ``rates``),
    ``step`` (the raw frame step, float), ``label``, ``index``; plus ``key`` (another clip of
    the same video at its own rate and position) when ``with_key``."""

    def __init__(
        self,
        source: VideoSource,
        transform: ClipTransform,
        rates: Sequence[int],
        clip_len: int = 16,
        seed: int = 0,
        with_key: bool = False,
        skip_log: SkipLog | None = None,
    ) -> None:
        super().__init__(source, seed, skip_log)
        if len(rates) < 2:
            raise ValueError(f"rate classification needs >= 2 rates; got {list(rates)}")
        self.transform = transform
        self.rates = [int(r) for r in rates]
        self.clip_len = clip_len
        self.with_key = with_key

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        draws = [rate_clip_indices(video.num_frames, self.clip_len, self.rates, rng)]
        if self.with_key:
            draws.append(rate_clip_indices(video.num_frames, self.clip_len, self.rates, rng))
        for _, _, wrapped in draws:
            if wrapped:
                self.skip_log.short(video.path, video.num_frames, self.clip_len)
        frames = self._frames(video, np.concatenate([d[0] for d in draws]))
        T = self.clip_len
        k = draws[0][1]
        item = {
            "clip": self.transform(frames[:T], rng),
            "rate": torch.tensor(k, dtype=torch.int64),
            "step": torch.tensor(float(self.rates[k])),
        }
        if self.with_key:
            item["key"] = self.transform(frames[T:], rng)
        return item
