"""VCOP (Xu et al. 2019, "Self-supervised spatiotemporal learning via video clip order
prediction") on vidssl's backbones, whole: its clip tuples, its pairwise order head, its model.

Clips: ``n`` clips of ``clip_len`` consecutive frames, ``gap`` frames apart (VCOP's code: 3 clips
of 16 frames, interval 8), shuffled; the label is the index of the shuffle in
``itertools.permutations(range(n))``. Each clip gets its own augmentation draw, as in VCOP's code.
A tuple that does not fit a short video shrinks its gaps, then wraps around (index mod N), counted
in the skip log like the pretext sampler's loop fallback.

Model: VCOP encodes each of the ``n`` shuffled clips with the backbone (so a 3-clip tuple costs
three backbone passes, 115.8 GMACs with C3D in the paper's Table VIII), concatenates the features
of every pair of clips, maps each pair through a shared ``fc7`` (2D -> 512, ReLU), concatenates
the ``n(n-1)/2`` pair codes, applies dropout 0.5 and classifies them into the ``n!`` orders with
``fc8``.

Config (``method: vcop``): ``sampler.n_segments`` is the number of clips (VCOP: 3),
``sampler.clip_len`` the frames per clip (16), ``model.order_hidden`` the fc7 width (512); the gap
is ``clip_len // 2`` frames (VCOP's interval 8 for 16-frame clips).
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidssl.data.datasets import _VideoDataset
from vidssl.data.records import VideoSource
from vidssl.data.sampling import permutation_index
from vidssl.data.skip_log import SkipLog
from vidssl.data.transforms import ClipTransform
from vidssl.data.video import Video
from vidssl.method.registry import register_method
from vidssl.models.backbones import build_backbone

if TYPE_CHECKING:
    from vidssl.config import Config

VCOP_DROPOUT = 0.5

# --------------------------------------------------------------------------------------------
# Clip tuples
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
        # One augmentation draw for the whole tuple (the same crop, jitter and flip on every
        # clip): drawn per clip, a horizontal flip of one clip reverses its direction of motion
        # against the others', and order cues that cross clip boundaries (where a moving object
        # is, how far a rotation has gone) no longer line up. Each clip is transformed on its
        # own so frame differences never straddle two clips.
        draw = int(rng.integers(2**63))
        clips = [self.transform(frames[j * T : (j + 1) * T], np.random.default_rng(draw))
                 for j in range(self.n_clips)]
        return {
            "clip": torch.stack(clips),
            "order": torch.tensor(permutation_index(perm), dtype=torch.int64),
        }


def dataset(cfg: Config, source: VideoSource, transform: ClipTransform, seed: int) -> VCOPDataset:
    """VCOP tuples of ``sampler.n_segments`` clips, half a clip apart."""
    s = cfg.sampler
    return VCOPDataset(source, transform, clip_len=s.clip_len, n_clips=s.n_segments,
                       gap=s.clip_len // 2, seed=seed)


def example_batch(cfg: Config, batch_size: int) -> dict[str, Tensor]:
    """Random clip tuples ``(B, n, 3, T, H, W)`` and order labels in ``[0, n!)``."""
    s, c = cfg.sampler, cfg.data.crop
    return {"clip": torch.randn(batch_size, s.n_segments, 3, s.clip_len, c, c),
            "order": torch.randint(0, math.factorial(s.n_segments), (batch_size,))}


# --------------------------------------------------------------------------------------------
# Head and model
# --------------------------------------------------------------------------------------------


class VCOPHead(nn.Module):
    """Pairwise order classifier: ``(B, n_clips, feature_dim) -> (B, n_clips!)`` logits.

    Pairs are taken as ``(i, j)`` with ``i < j`` in clip order, as in VCOP's code, so the
    pair codes keep which clip came first in the input.
    """

    def __init__(
        self, feature_dim: int, n_clips: int, hidden: int = 512, dropout: float = 0.5
    ) -> None:
        super().__init__()
        if n_clips < 2:
            raise ValueError(f"VCOP needs >= 2 clips; got {n_clips}")
        self.n_clips = n_clips
        self.num_classes = math.factorial(n_clips)
        pairs = list(itertools.combinations(range(n_clips), 2))
        self.register_buffer("_first", torch.tensor([p[0] for p in pairs]), persistent=False)
        self.register_buffer("_second", torch.tensor([p[1] for p in pairs]), persistent=False)
        self.fc7 = nn.Linear(2 * feature_dim, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc8 = nn.Linear(hidden * len(pairs), self.num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features (B, n_clips, feature_dim)`` -> ``(B, n_clips!)`` order logits."""
        b, n, _ = features.shape
        if n != self.n_clips:
            raise ValueError(f"expected {self.n_clips} clip features, got {n}")
        # All pairs at once: (B, P, 2D) through the shared fc7, then (B, P * hidden).
        pairs = torch.cat([features[:, self._first], features[:, self._second]], dim=2)
        h = self.relu(self.fc7(pairs)).reshape(b, -1)
        return self.fc8(self.dropout(h))


@register_method("vcop", dataset=dataset, example_batch=example_batch)
class VCOPModel(nn.Module):
    """Backbone + pairwise order head; ``forward(batch) -> (loss, metrics)``.

    ``batch["clip"]`` is ``(B, n, 3, T, H, W)`` (the shuffled tuple), ``batch["order"]`` the
    permutation index. One backbone pass over all ``B * n`` clips, so BatchNorm sees the whole
    tuple batch, as in VCOP's code. A training sample therefore costs ``n`` backbone forwards
    (Table VIII: 3 x 38.6 GMACs with C3D).
    """

    def __init__(self, backbone: nn.Module, n_clips: int, hidden: int = 512,
                 dropout: float = VCOP_DROPOUT) -> None:
        super().__init__()
        self.n = n_clips
        self.num_classes = math.factorial(n_clips)
        self.backbone = backbone
        self.head = VCOPHead(int(backbone.feature_dim), n_clips, hidden=hidden, dropout=dropout)

    @classmethod
    def from_config(cls, cfg: Config) -> VCOPModel:
        """``model.*`` backbone, ``sampler.n_segments`` clips, ``model.order_hidden`` fc7."""
        m = cfg.model
        return cls(build_backbone(m.backbone, m.width, **m.backbone_args), cfg.sampler.n_segments,
                   hidden=m.order_hidden)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        clips = batch["clip"]
        b, n = clips.shape[:2]
        if n != self.n:
            raise ValueError(f"VCOP expects {self.n} clips per sample; got {n}")
        feats = self.backbone(clips.flatten(0, 1)).reshape(b, n, -1)
        logits = self.head(feats).float()
        order = batch["order"]
        loss = F.cross_entropy(logits, order)
        acc = (logits.detach().argmax(1) == order).float().mean()
        return loss, {"loss": loss.detach(), "loss_order": loss.detach(), "order_acc": acc}

    def after_step(self) -> None:
        """Nothing to update after an optimizer step (no key encoder or queue)."""
