"""Clips at a drawn frame step, the samples of the rate baselines (PRP-style ``prp`` and
Pace-style ``pace``), drawn by the same loader machinery as the paper's method.

One clip of ``clip_len`` frames taken every ``r`` raw frames, ``r`` drawn uniformly from a fixed
set of rates; label = index of ``r`` in that set. Pace's contrastive term also takes a ``key``: a
second clip of the same video at an independently drawn pace and position (the positive pair
shares the video, not the pace).

The dataset reads videos through the same :class:`~vidssl.data.records.VideoSource`, the same
:class:`~vidssl.data.transforms.ClipTransform` and the same per-sample RNG and skip-and-replace
rules as ``PretextDataset`` (it subclasses its base), so a comparison differs only in the pretext.
Short videos never give a wrong label: a clip draws only among the rates whose span fits the
video (so the label is the frame step actually used); when none fits (fewer frames than the
clip), it takes the smallest rate and wraps around (index mod N), counted in the skip log like
the pretext sampler's loop fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vidssl.data.datasets import _VideoDataset
from vidssl.data.records import VideoSource
from vidssl.data.skip_log import SkipLog
from vidssl.data.transforms import ClipTransform
from vidssl.data.video import Video

# --------------------------------------------------------------------------------------------
# Frame indices
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


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
        k = draws[0][1]
        clips = self._clips(frames, len(draws), rng)
        item = {
            "clip": clips[0],
            "rate": torch.tensor(k, dtype=torch.int64),
            "step": torch.tensor(float(self.rates[k])),
        }
        if self.with_key:
            item["key"] = clips[1]
        return item
