"""The torch Datasets: pretext clips, fine-tuning clips and evaluation clips of a VideoSource.

Which videos and labels a split has is the layouts' business (:mod:`vidssl.data.layouts`,
returning a :class:`~vidssl.data.records.VideoSource`). Videos that exist but fail to decode are
found only when read; the datasets then replace them and count them in a
:class:`~vidssl.data.skip_log.SkipLog`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vidssl.data.records import VideoSource
from vidssl.data.sampling import PretextSampler, random_clip_indices, uniform_clip_indices
from vidssl.data.skip_log import SkipLog
from vidssl.data.transforms import ClipTransform
from vidssl.data.video import ShortVideoError, Video, VideoError
from vidssl.errors import DataError

MAX_REPLACEMENTS = 20  # other videos tried before giving up on a sample
MAX_RESAMPLES = 3  # new clip draws after a video turned out shorter than its metadata


class _VideoDataset(Dataset):
    """Shared machinery: per-sample RNG, reading with skip-and-replace, ``set_epoch``."""

    transform: Callable[..., Any]  # set by every subclass: uint8 frames -> tensor clip

    def __init__(self, source: VideoSource, seed: int, skip_log: SkipLog | None) -> None:
        self.source = source
        self.seed = int(seed)
        self.epoch = 0
        self.repeat = 0
        self.skip_log = skip_log if skip_log is not None else SkipLog()
        self._bad: set[int] = set()  # per process: videos already known unreadable

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int, repeat: int = 0) -> None:
        """New random draws each epoch; effective in workers started after the call.

        ``repeat`` is the pass over the data within the epoch: an epoch of
        ``train.steps_per_epoch`` steps longer than one pass reads every video several times,
        and each time must be a new clip (new segments, rates, order, augmentation). Keyed by
        ``(seed, epoch, index)`` alone, the repeats were identical samples, so on a small data set
        the order task could memorise the few distinct clips of an epoch (training order
        accuracy 0.7-0.8 from the first epoch on 9 real videos, chance on held-out clips and on
        the same videos in eval mode). Pass 0 keeps its old key, so one-pass epochs draw what
        they always drew."""
        self.epoch = int(epoch)
        self.repeat = int(repeat)

    def _rng(self, index: int) -> np.random.Generator:
        key = [self.seed, self.epoch, int(index)]
        return np.random.default_rng(key + [self.repeat] if self.repeat else key)

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError

    def _frames(self, video: Video, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """The frames for ``self.transform``: at its resize size straight from the reader when
        it resizes on decode (``ClipTransform.decode_size``); any other callable gets the
        frames at the video's own size."""
        return video.frames(indices, size=getattr(self.transform, "decode_size", None))

    def _clips(self, frames: np.ndarray, n: int, rng: np.random.Generator) -> torch.Tensor:
        """``n`` consecutive clips of ``frames`` (``n * T`` frames), each transformed with its
        own random draws, as ``(n, 3, T, crop, crop)``: in one batched call for a
        :class:`ClipTransform` (``ClipTransform.batch``), clip by clip for any other callable."""
        clips = frames.reshape(n, -1, *frames.shape[1:])
        batch = getattr(self.transform, "batch", None)
        if batch is not None:
            return batch(clips, rng)
        return torch.stack([self.transform(c, rng) for c in clips])

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        i = int(index)
        for _ in range(MAX_REPLACEMENTS + 1):
            if len(self._bad) >= len(self.source):
                break  # every video is known unreadable: trying more would only repeat them
            if i not in self._bad:
                try:
                    video = self.source.open(i)
                    item = self._load_resampling(video, rng)
                    item["label"] = torch.tensor(self.source.records[i].label, dtype=torch.int64)
                    item["index"] = torch.tensor(i, dtype=torch.int64)
                    return item
                except VideoError as exc:
                    self._bad.add(i)
                    self.skip_log.skipped(self.source.records[i].path, str(exc))
            i = int(rng.integers(len(self.source)))
        name = self.source.name or "the data set"
        if len(self._bad) >= len(self.source):
            raise DataError(f"{name}: none of its {len(self.source)} video(s) could be read "
                            f"(first: {self.source.records[min(self._bad)].path})")
        raise DataError(
            f"{name}: {MAX_REPLACEMENTS + 1} videos in a row could not be read "
            f"({len(self._bad)} of {len(self.source)} unreadable so far; see the warnings above)"
        )

    def _load_resampling(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        for attempt in range(MAX_RESAMPLES + 1):
            try:
                return self._load(video, rng)
            except ShortVideoError:
                # num_frames is corrected by now: draw again for the true length.
                if attempt == MAX_RESAMPLES:
                    raise
        raise AssertionError("unreachable")


class PretextDataset(_VideoDataset):
    """Pretext clips: ``clip (3,T,H,W), order, rates (n,), key (3,T,H,W), label, index``.

    ``key`` (with ``with_key=True``) is a second pretext clip of the same video drawn
    independently (its own segments, rates, order and augmentation): the MoCo positive. Both
    clips are decoded in one pass over the video.
    """

    def __init__(
        self,
        source: VideoSource,
        sampler: PretextSampler,
        transform: ClipTransform,
        seed: int = 0,
        with_key: bool = True,
        skip_log: SkipLog | None = None,
    ) -> None:
        super().__init__(source, seed, skip_log)
        self.sampler = sampler
        self.transform = transform
        self.with_key = with_key

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        draws = [self.sampler.sample(video.num_frames, rng)]
        if self.with_key:
            draws.append(self.sampler.sample(video.num_frames, rng))
        for d in draws:
            if d.looped:
                self.skip_log.short(video.path, video.num_frames, self.sampler.clip_len)
        frames = self._frames(video, np.concatenate([d.indices for d in draws]))
        q = draws[0]
        clips = self._clips(frames, len(draws), rng)
        item = {
            "clip": clips[0],
            "order": torch.tensor(q.order, dtype=torch.int64),
            "rates": torch.from_numpy(q.rates.astype(np.float32)),
        }
        if self.with_key:
            item["key"] = clips[1]
        return item


class ClipDataset(_VideoDataset):
    """One random clip of ``clip_len`` consecutive frames (``step`` apart) per video, for
    fine-tuning: ``clip (3,T,H,W), label, index``."""

    def __init__(
        self,
        source: VideoSource,
        transform: ClipTransform,
        clip_len: int = 16,
        step: int = 1,
        seed: int = 0,
        skip_log: SkipLog | None = None,
    ) -> None:
        super().__init__(source, seed, skip_log)
        self.transform = transform
        self.clip_len = clip_len
        self.step = step

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        needed = (self.clip_len - 1) * self.step + 1
        if video.num_frames < needed:
            self.skip_log.short(video.path, video.num_frames, needed)
        idx = random_clip_indices(video.num_frames, self.clip_len, self.step, rng)
        return {"clip": self.transform(self._frames(video, idx), rng)}


class MultiClipDataset(_VideoDataset):
    """``clips`` evaluation clips per video at the DESIGN 7 positions
    (:func:`uniform_clip_indices`): ``clips (N,3,T,H,W), label, index``.

    ``index`` is the video actually read: when a video is unreadable and replaced, it differs
    from the requested one, so evaluation can tell (and the SkipLog lists it).
    """

    def __init__(
        self,
        source: VideoSource,
        transform: ClipTransform,
        clips: int = 10,
        clip_len: int = 16,
        step: int = 1,
        skip_log: SkipLog | None = None,
    ) -> None:
        super().__init__(source, 0, skip_log)
        self.transform = transform
        self.clips = clips
        self.clip_len = clip_len
        self.step = step

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        needed = (self.clip_len - 1) * self.step + 1
        if video.num_frames < needed:
            self.skip_log.short(video.path, video.num_frames, needed)
        idx = uniform_clip_indices(video.num_frames, self.clip_len, self.step, self.clips)
        frames = self._frames(video, idx.reshape(-1))
        return {"clips": self._clips(frames, self.clips, rng)}
