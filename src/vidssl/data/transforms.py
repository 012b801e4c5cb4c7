"""Clip-consistent augmentation (DESIGN section 6) and the optional frame-difference input.

Every random choice (crop position, jitter factors, flip) is drawn once per clip and applied to
all its frames: a transform that changed from frame to frame would add motion that is not in
the video, and the pretext labels are about motion. All work is done on torch tensors, the
resize on the whole clip with one ``F.interpolate`` call.

Pipeline (train): uint8 ``(T, H, W, 3)`` -> float in [0, 1] -> resize to ``resize`` (H, W)
-> random ``crop`` x ``crop`` -> colour jitter (brightness, contrast, saturation, in that fixed
order, factors uniform in ``[1 - s, 1 + s]``; contrast and saturation blend towards the clip's
mean grey level and each pixel's grey level) -> horizontal flip with p = 0.5 -> clamp to
[0, 1] -> normalise -> ``(3, T, crop, crop)``. Eval: resize, centre crop, normalise.

Resizing while decoding (``resize_on_decode``, ``data.resize_on_decode``, default on): the
resize is to a fixed ``(H, W)`` and comes before every random step (the crop position, jitter
and flip are drawn on the resized clip), so it can equally be done by the video reader, in the
same swscale pass that converts the decoded frame to RGB (:mod:`vidssl.data.video`). The
datasets ask the reader for frames at :attr:`ClipTransform.decode_size`; frames that arrive
at that size skip the ``F.interpolate`` step. This applies to video files and frame folders,
for training and evaluation alike; in-memory videos (the synthetic data set) arrive at their
own size and are resized here as before. Decoder-side resizing differs from converting first
and resizing in float by rounding to uint8 and the filter's details (~1 grey level on average
on camera footage); ``resize_on_decode: false`` restores the float path exactly.

``input="diff"`` (frame differences): after the steps above but before normalisation, with
``x_t`` the RGB frame t in [0, 1]:

    d_t = x_{t+1} - x_t            for t = 0 .. T-2
    d_{T-1} = d_{T-2}              (the last difference repeated, so the clip keeps T frames)
    output = d / max(rms(d), 1/255)

``rms(d)`` is the root mean square over the whole clip (all channels, frames and pixels), so
values are O(1) whatever the video's contrast, while the relative size of motion between the
clip's frames (a fast segment next to a slow one) is kept; the floor keeps a static clip
(noise only) from being blown up. Differences across a segment junction are kept: they are what
a model sees there in RGB too. The mean/std normalisation is not applied to differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# Kinetics-400 RGB statistics (as used by torchvision's video models).
DEFAULT_MEAN = (0.43216, 0.394666, 0.37645)
DEFAULT_STD = (0.22803, 0.22145, 0.216989)
_GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma weights, as PIL and torchvision use


def frame_differences(x: torch.Tensor) -> torch.Tensor:
    """Frame differences of a ``(3, T, H, W)`` clip, or of each clip of an ``(N, 3, T, H, W)``
    batch, in [0, 1], scaled to O(1) per clip (module docstring)."""
    if x.dim() == 4:
        return frame_differences(x[None])[0]
    if x.shape[2] < 2:
        return torch.zeros_like(x)
    d = x[:, :, 1:] - x[:, :, :-1]
    d = torch.cat([d, d[:, :, -1:]], dim=2)
    rms = d.pow(2).mean(dim=(1, 2, 3, 4), keepdim=True).sqrt().clamp_min(1.0 / 255.0)
    return d / rms


def _grey(x: torch.Tensor) -> torch.Tensor:
    """The grey level ``(N, 1, T, H, W)`` of ``(N, 3, T, H, W)`` clips clamped to [0, 1]."""
    x = x.clamp(0, 1)
    grey = x[:, 0:1] * _GREY[0]
    grey.add_(x[:, 1:2], alpha=_GREY[1])
    return grey.add_(x[:, 2:3], alpha=_GREY[2])


class ClipTransform:
    """uint8 clip ``(T, H, W, 3)`` -> normalised float ``(3, T, crop, crop)``; see module doc."""

    def __init__(
        self,
        resize: tuple[int, int] | list[int] = (128, 171),
        crop: int = 112,
        train: bool = True,
        color_jitter: float = 0.4,
        hflip: bool = True,
        input: str = "rgb",
        mean: tuple[float, float, float] = DEFAULT_MEAN,
        std: tuple[float, float, float] = DEFAULT_STD,
        resize_on_decode: bool = True,
    ) -> None:
        if input not in ("rgb", "diff"):
            raise ValueError(f"input must be rgb or diff; got {input!r}")
        self.resize = (int(resize[0]), int(resize[1]))
        if crop > min(self.resize):
            raise ValueError(f"crop {crop} is larger than resize {self.resize}")
        self.crop = int(crop)
        self.train = train
        self.color_jitter = float(color_jitter)
        self.hflip = hflip
        self.input = input
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1)
        self.resize_on_decode = bool(resize_on_decode)

    @property
    def decode_size(self) -> tuple[int, int] | None:
        """The ``(H, W)`` to ask the video reader for (``Video.frames(..., size=)``), or None
        to get frames at their own size (``resize_on_decode`` off); see the module doc."""
        return self.resize if self.resize_on_decode else None

    @classmethod
    def from_config(cls, data_cfg: Any, train: bool) -> ClipTransform:
        """Build from a ``DataConfig`` (``train=False``: the evaluation variant)."""
        d = data_cfg
        return cls(
            resize=tuple(d.resize),
            crop=d.crop,
            train=train,
            color_jitter=d.color_jitter,
            hflip=d.hflip,
            input=d.input,
            resize_on_decode=d.resize_on_decode,
        )

    def _draw(self, rng: np.random.Generator) -> tuple[int, int, np.ndarray | None, bool]:
        """One clip's random choices, in a fixed order: crop corner, jitter factors
        (brightness, contrast, saturation), flip. Clips of a batch draw one after another, so
        a batch draws exactly what the same clips transformed one at a time would."""
        h, w = self.resize
        if not self.train:
            return (h - self.crop) // 2, (w - self.crop) // 2, None, False
        top = int(rng.integers(0, h - self.crop + 1))
        left = int(rng.integers(0, w - self.crop + 1))
        s = self.color_jitter
        jitter = rng.uniform(max(0.0, 1 - s), 1 + s, size=3) if s > 0 else None
        flip = bool(self.hflip and rng.random() < 0.5)
        return top, left, jitter, flip

    @staticmethod
    def _jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        """Brightness, contrast, saturation of ``(N, 3, T, H, W)`` clips; ``factors`` (N, 3).
        In place on ``x`` (the transform's own float copy), the grey level as three scaled adds:
        a paper-scale sample is 1.2M values, and out of place, with the grey level as a weighted
        sum over the channel dimension, this step took about 10x as long and most of the
        transform's time (benchmarks/paper_loader.py). Equal to that to float rounding."""
        b, c, sat = (factors[:, i].view(-1, 1, 1, 1, 1) for i in range(3))
        x.mul_(b)
        mean = _grey(x).mean(dim=(1, 2, 3, 4), keepdim=True)
        x.sub_(mean).mul_(c).add_(mean)
        grey = _grey(x)
        return x.sub_(grey).mul_(sat).add_(grey)

    def __call__(
        self, frames: np.ndarray | torch.Tensor, rng: np.random.Generator | None = None
    ) -> torch.Tensor:
        """One uint8 clip ``(T, H, W, 3)`` -> ``(3, T, crop, crop)``. ``rng`` draws the
        augmentation; the evaluation transform draws nothing, so it may be left out there (a
        fresh unseeded generator is used otherwise)."""
        clip = np.asarray(frames)
        if clip.ndim != 4 or clip.shape[-1] != 3:
            raise ValueError(f"expected a (T, H, W, 3) clip; got {tuple(clip.shape)}")
        return self.batch(clip[None], rng)[0]

    def batch(
        self, clips: np.ndarray | torch.Tensor, rng: np.random.Generator | None = None
    ) -> torch.Tensor:
        """``N`` uint8 clips ``(N, T, H, W, 3)`` of one video -> ``(N, 3, T, crop, crop)``,
        each with its own random choices, equal to ``N`` calls one after another. Why batch:
        at the demo's 32x32 every tensor op costs more in dispatch than in arithmetic, and a
        pretext sample has two clips (query and key), an evaluation video several."""
        if rng is None:
            rng = np.random.default_rng()
        x = torch.as_tensor(np.asarray(clips))
        if x.ndim != 5 or x.shape[-1] != 3:
            raise ValueError(f"expected (N, T, H, W, 3) clips; got {tuple(x.shape)}")
        n, t = x.shape[:2]
        x = x.flatten(0, 1).permute(0, 3, 1, 2)  # (N*T, 3, H, W) uint8
        # frames that arrive at the resize size (resized on decode) are cropped while still
        # uint8: the float conversion then touches the crop's pixels only (112x112 of 128x171,
        # 57 %), and the values are exactly those of converting first
        if tuple(x.shape[-2:]) != self.resize:
            x = F.interpolate(x.float().div_(255.0), size=self.resize, mode="bilinear",
                              align_corners=False, antialias=True)
        x = x.view(n, t, 3, *self.resize).permute(0, 2, 1, 3, 4)  # (N, 3, T, H, W)
        draws = [self._draw(rng) for _ in range(n)]
        c = self.crop
        # contiguous: the channel reductions of the jitter are ~10x slower on the permuted view
        if len({(top, left) for top, left, _, _ in draws}) == 1:
            top, left = draws[0][:2]
            x = x[..., top : top + c, left : left + c].contiguous()
        else:
            x = torch.stack([x[i, ..., top : top + c, left : left + c]
                             for i, (top, left, _, _) in enumerate(draws)])
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        if draws[0][2] is not None:
            x = self._jitter(x, torch.tensor(np.stack([d[2] for d in draws]), dtype=x.dtype))
        flips = [i for i, d in enumerate(draws) if d[3]]
        if flips:
            idx = torch.tensor(flips)
            x[idx] = x[idx].flip(-1)
        x = x.clamp_(0.0, 1.0)
        if self.input == "diff":
            return frame_differences(x).contiguous()
        return x.sub_(self.mean.unsqueeze(0)).div_(self.std.unsqueeze(0))
