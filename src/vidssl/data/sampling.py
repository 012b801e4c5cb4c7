"""Which raw frames make a clip: the pretext clip of DESIGN section 1 and evaluation clips.

The pretext clip
----------------
``T`` frames split into ``n`` consecutive segments of random lengths ``l_i >= min_len``
(uniform over all such compositions of ``T``), each with its own integer sampling rate
``r_i`` drawn uniformly from ``[rate_min, rate_max]``.

Junction rule: segment 1 takes raw frames ``s, s + r_1, ..., s + (l_1 - 1) r_1``; segment
``i + 1`` starts ``r_{i+1}`` frames after the last frame of segment ``i``. So every gap inside
segment ``i + 1``, including the one that enters it, equals ``r_{i+1}``: a segment looks the
same whether or not you see the frame before it, and the raw span is
``sum_i l_i r_i - r_1 + 1`` frames. The start ``s`` is uniform over the positions where the span
fits.

Short videos (fewer frames than the span): the rates are drawn again, capped at the largest
rate ``R = (N - 1) // (T - 1)`` for which even all-``R`` rates fit, from
``[min(rate_min, R), R]`` (``capped=True``). If even all-ones does not fit (``N < T``), the
rates are all 1 and the clip either loops (``short_video="loop"``: raw index ``p`` becomes
``p mod N``) or pads (``"pad"``: indices past the end repeat the last frame); ``looped=True``
flags it so the loader can count it. A clip never has the wrong length.

Then the segments are shuffled by a uniformly random permutation ``perm`` of ``range(n)``:
clip position ``j`` holds original segment ``perm[j]``. Labels: ``order`` is the index of
``perm`` in ``itertools.permutations(range(n))`` (lexicographic, ``n!`` classes) and ``rates``
lists the segments' rates in clip order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def permutation_index(perm: tuple[int, ...] | list[int] | np.ndarray) -> int:
    """Index of ``perm`` in ``itertools.permutations(range(n))`` (its lexicographic rank)."""
    p = [int(x) for x in perm]
    n = len(p)
    rank = 0
    for i in range(n):
        smaller = sum(1 for j in range(i + 1, n) if p[j] < p[i])
        rank += smaller * math.factorial(n - 1 - i)
    return rank


def index_permutation(order: int, n: int) -> tuple[int, ...]:
    """Inverse of :func:`permutation_index`: the ``order``-th permutation of ``range(n)``."""
    items = list(range(n))
    out = []
    for i in range(n, 0, -1):
        f = math.factorial(i - 1)
        q, order = divmod(order, f)
        out.append(items.pop(q))
    return tuple(out)


@dataclass
class PretextClip:
    """One sampled pretext clip: raw frame indices and labels, all in clip order.

    ``segments[j]`` are the raw indices of the segment at clip position ``j`` (original segment
    ``perm[j]``); ``indices`` is their concatenation. ``rates`` (float32) and ``lengths`` follow
    clip order too. ``looped``: the video was shorter than ``T`` (loop/pad fallback);
    ``capped``: the rates were redrawn with a cap so the span fits.
    """

    indices: np.ndarray
    segments: list[np.ndarray]
    rates: np.ndarray
    order: int
    perm: tuple[int, ...]
    lengths: np.ndarray
    looped: bool = False
    capped: bool = False
    start: int = 0
    raw_rates: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def to_json(self) -> dict[str, object]:
        """Plain-Python view (for ``vidssl sample-clip --json``)."""
        return {
            "segments": [[int(x) for x in s] for s in self.segments],
            "rates": [int(r) for r in self.rates],
            "lengths": [int(x) for x in self.lengths],
            "order": int(self.order),
            "perm": [int(x) for x in self.perm],
            "indices": [int(x) for x in self.indices],
            "looped": bool(self.looped),
            "capped": bool(self.capped),
        }


class PretextSampler:
    """Draws pretext clips (DESIGN section 1; see the module docstring for every rule)."""

    def __init__(
        self,
        clip_len: int = 16,
        n_segments: int = 3,
        min_len: int = 3,
        rate_min: int = 1,
        rate_max: int = 8,
        short_video: str = "loop",
    ) -> None:
        if not 1 <= n_segments:
            raise ValueError(f"n_segments must be >= 1; got {n_segments}")
        if min_len < 1 or n_segments * min_len > clip_len:
            raise ValueError(
                f"clip_len={clip_len} cannot hold {n_segments} segments of >= {min_len} frames"
            )
        if not 1 <= rate_min <= rate_max:
            raise ValueError(f"need 1 <= rate_min <= rate_max; got {rate_min}, {rate_max}")
        if short_video not in ("loop", "pad"):
            raise ValueError(f"short_video must be loop or pad; got {short_video!r}")
        self.clip_len = clip_len
        self.n_segments = n_segments
        self.min_len = min_len
        self.rate_min = rate_min
        self.rate_max = rate_max
        self.short_video = short_video

    @classmethod
    def from_config(cls, sampler_cfg: Any) -> PretextSampler:
        """Build from a ``SamplerConfig``."""
        return cls(
            clip_len=sampler_cfg.clip_len,
            n_segments=sampler_cfg.n_segments,
            min_len=sampler_cfg.min_len,
            rate_min=sampler_cfg.rate_min,
            rate_max=sampler_cfg.rate_max,
            short_video=sampler_cfg.short_video,
        )

    def _lengths(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform over compositions of T into n parts >= min_len (stars and bars)."""
        n, extra = self.n_segments, self.clip_len - self.n_segments * self.min_len
        bars = np.sort(rng.choice(extra + n - 1, size=n - 1, replace=False))
        edges = np.concatenate([[-1], bars, [extra + n - 1]])
        return (np.diff(edges) - 1 + self.min_len).astype(np.int64)

    def sample(self, num_frames: int, rng: np.random.Generator) -> PretextClip:
        if num_frames < 1:
            raise ValueError(f"cannot sample a clip from a video of {num_frames} frames")
        n, T = self.n_segments, self.clip_len
        lengths = self._lengths(rng)
        rates = rng.integers(self.rate_min, self.rate_max + 1, size=n)
        looped = capped = False

        def span(r: np.ndarray) -> int:
            return int((lengths * r).sum() - r[0] + 1)

        if span(rates) > num_frames:
            cap = (num_frames - 1) // (T - 1) if T > 1 else self.rate_max
            if cap >= 1:
                lo = min(self.rate_min, cap)
                rates = rng.integers(lo, min(cap, self.rate_max) + 1, size=n)
                capped = True
            else:
                rates = np.ones(n, np.int64)
                looped = True
        total = span(rates)
        start = int(rng.integers(0, num_frames - total + 1)) if total <= num_frames else 0
        # Offsets of every frame from the clip start: gaps are r_i inside segment i and on
        # entering it (the first gap, entering segment 1, is dropped).
        steps = np.repeat(rates, lengths)
        offsets = np.concatenate([[0], np.cumsum(steps[1:])])
        raw = start + offsets
        if looped and self.short_video == "loop":
            raw = raw % num_frames
        elif looped:
            raw = np.minimum(raw, num_frames - 1)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        original = [raw[bounds[i] : bounds[i + 1]] for i in range(n)]
        perm = tuple(int(x) for x in rng.permutation(n))
        segments = [original[p] for p in perm]
        return PretextClip(
            indices=np.concatenate(segments).astype(np.int64),
            segments=segments,
            rates=rates[list(perm)].astype(np.float32),
            order=permutation_index(perm),
            perm=perm,
            lengths=lengths[list(perm)],
            looped=looped,
            capped=capped,
            start=start,
            raw_rates=rates.astype(np.int64),
        )


def _fit(offsets: np.ndarray, start: int, num_frames: int) -> np.ndarray:
    """Clip indices ``start + offsets``; a video shorter than the span loops (index mod N)."""
    return (start + offsets) % num_frames


def random_clip_indices(
    num_frames: int, clip_len: int, step: int, rng: np.random.Generator
) -> np.ndarray:
    """``clip_len`` frames ``step`` apart at a uniformly random position (fine-tuning clips).

    A video shorter than the span loops.
    """
    if num_frames < 1:
        raise ValueError(f"cannot sample a clip from a video of {num_frames} frames")
    offsets = np.arange(clip_len, dtype=np.int64) * step
    span = int(offsets[-1]) + 1
    start = int(rng.integers(0, num_frames - span + 1)) if span <= num_frames else 0
    return _fit(offsets, start, num_frames)


def uniform_clip_indices(num_frames: int, clip_len: int, step: int, num_clips: int) -> np.ndarray:
    """``(num_clips, clip_len)`` clips centred at ``linspace(h, N - h, num_clips)``, ``h`` = half
    the span (8 for 16 frames at step 1: VCOP's ``linspace(8, len - 8, 10)``, DESIGN 7).

    A clip whose centre would put it over an end is shifted inside; a video shorter than the
    span loops.
    """
    if num_frames < 1:
        raise ValueError(f"cannot sample a clip from a video of {num_frames} frames")
    offsets = np.arange(clip_len, dtype=np.int64) * step
    span = int(offsets[-1]) + 1
    half = span / 2
    centres = np.linspace(half, num_frames - half, num_clips)
    out = np.empty((num_clips, clip_len), np.int64)
    for i, c in enumerate(centres):
        start = int(np.clip(round(c - half), 0, max(num_frames - span, 0)))
        out[i] = _fit(offsets, start, num_frames)
    return out
