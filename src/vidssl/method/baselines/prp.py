"""Playback-rate classification, PRP-style (Yao et al. 2020, "Video playback rate perception
for self-supervised spatio-temporal representation learning"), without PRP's reconstruction
branch: one clip taken every ``r`` frames, ``r`` drawn from the powers of two in
``[sampler.rate_min, sampler.rate_max]`` (the defaults 1..8 give PRP's {1, 2, 4, 8}), and a
linear classifier on the pooled feature predicts which. ``model.dropout`` applies before it.

A single-term objective: the loss weights of ``loss`` are not used (scaling the only term would
just rescale the learning rate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidssl.data.records import VideoSource
from vidssl.data.transforms import ClipTransform
from vidssl.errors import ConfigError
from vidssl.method.baselines.rate_clips import RateClipDataset
from vidssl.method.registry import register_method
from vidssl.models.backbones import build_backbone

if TYPE_CHECKING:
    from vidssl.config import Config


def power_of_two_rates(rate_min: int, rate_max: int) -> list[int]:
    """PRP's rate set: the powers of two in ``[rate_min, rate_max]`` (1..8 -> 1, 2, 4, 8)."""
    out, r = [], 1
    while r <= rate_max:
        if r >= rate_min:
            out.append(r)
        r *= 2
    return out


def prp_rates(cfg: Config) -> list[int]:
    """The rate classes of the PRP-style baseline for this config (at least two)."""
    rates = power_of_two_rates(cfg.sampler.rate_min, cfg.sampler.rate_max)
    if len(rates) < 2:
        raise ConfigError(
            f"method: prp needs at least two powers of two in [sampler.rate_min, "
            f"sampler.rate_max] = [{cfg.sampler.rate_min}, {cfg.sampler.rate_max}]"
        )
    return rates


def check(cfg: Config) -> None:
    """The rate range must hold two classes."""
    prp_rates(cfg)


def dataset(cfg: Config, source: VideoSource, transform: ClipTransform,
            seed: int) -> RateClipDataset:
    """One clip per sample at a power-of-two frame step."""
    return RateClipDataset(source, transform, prp_rates(cfg), clip_len=cfg.sampler.clip_len,
                           seed=seed)


def rate_example_batch(cfg: Config, batch_size: int, rates: list[int],
                       with_key: bool = False) -> dict[str, Tensor]:
    """Random clips (and keys) with rate labels in ``[0, len(rates))``: the rate baselines'."""
    c, t, b = cfg.data.crop, cfg.sampler.clip_len, batch_size
    batch = {"clip": torch.randn(b, 3, t, c, c), "rate": torch.randint(0, len(rates), (b,))}
    if with_key:
        batch["key"] = torch.randn(b, 3, t, c, c)
    return batch


def example_batch(cfg: Config, batch_size: int) -> dict[str, Tensor]:
    return rate_example_batch(cfg, batch_size, prp_rates(cfg))


@register_method("prp", dataset=dataset, example_batch=example_batch, check=check)
class RateClassifier(nn.Module):
    """Backbone + dropout + linear layer over the rate classes; ``forward(batch) -> (loss,
    metrics)`` with ``batch["clip"] (B, 3, T, H, W)`` and ``batch["rate"]`` (class index).

    Args:
        backbone: the encoder, with ``feature_dim``.
        rate_fc: the classifier, ``Linear(feature_dim, number of rates)``.
        dropout: before the classifier.
    """

    def __init__(self, backbone: nn.Module, rate_fc: nn.Linear, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.rate_fc = rate_fc

    @classmethod
    def from_config(cls, cfg: Config) -> RateClassifier:
        """``model.*`` backbone and dropout, one class per rate of :func:`prp_rates`."""
        m = cfg.model
        backbone = build_backbone(m.backbone, m.width, **m.backbone_args)
        return cls(backbone, nn.Linear(int(backbone.feature_dim), len(prp_rates(cfg))),
                   dropout=m.dropout)

    def rate_loss(self, feats: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-entropy and accuracy of the rate classifier on pooled features."""
        logits = self.rate_fc(self.dropout(feats)).float()
        loss = F.cross_entropy(logits, target)
        return loss, (logits.detach().argmax(1) == target).float().mean()

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        loss, acc = self.rate_loss(self.backbone(batch["clip"]), batch["rate"])
        return loss, {"loss": loss.detach(), "loss_rate": loss.detach(), "rate_acc": acc}

    def after_step(self) -> None:
        """Nothing to update after an optimizer step."""
