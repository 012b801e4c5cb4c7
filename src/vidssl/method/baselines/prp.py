"""Playback-rate classification, PRP-style (Yao et al. 2020, "Video playback rate perception
for self-supervised spatio-temporal representation learning"), without PRP's reconstruction
branch: one clip taken every ``r`` frames, ``r`` drawn from the powers of two in
``[sampler.rate_min, sampler.rate_max]`` (the defaults 1..8 give PRP's {1, 2, 4, 8}), and a
linear classifier on the pooled feature predicts which. ``model.dropout`` applies before it.

A single-term objective: the loss weights of ``loss`` are not used (scaling the only term would
just rescale the learning rate).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from vidssl.config import Config, ConfigError
from vidssl.method.baselines.data import power_of_two_rates
from vidssl.models.backbones import build_backbone


def prp_rates(cfg: Config) -> list[int]:
    """The rate classes of the PRP-style baseline for this config (at least two)."""
    rates = power_of_two_rates(cfg.sampler.rate_min, cfg.sampler.rate_max)
    if len(rates) < 2:
        raise ConfigError(
            f"loss.method=prp needs at least two powers of two in [sampler.rate_min, "
            f"sampler.rate_max] = [{cfg.sampler.rate_min}, {cfg.sampler.rate_max}]"
        )
    return rates


class RateClassifier(nn.Module):
    """Backbone + dropout + linear layer over the rate classes; ``forward(batch) -> (loss,
    metrics)`` with ``batch["clip"] (B, 3, T, H, W)`` and ``batch["rate"]`` (class index)."""

    def __init__(self, cfg: Config, num_rates: int) -> None:
        super().__init__()
        m = cfg.model
        self.backbone = build_backbone(m.backbone, m.width, **m.backbone_args)
        self.dropout = nn.Dropout(m.dropout) if m.dropout > 0 else nn.Identity()
        self.rate_fc = nn.Linear(int(self.backbone.feature_dim), num_rates)

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
