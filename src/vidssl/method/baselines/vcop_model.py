"""VCOP (Xu et al. 2019, "Self-supervised spatiotemporal learning via video clip order
prediction") on vidssl's backbones: each of the ``n`` shuffled clips is encoded separately by
the backbone, and :class:`~vidssl.method.baselines.vcop.VCOPHead` classifies the pairwise
features into the ``n!`` orders.

Config: ``sampler.n_segments`` is the number of clips (VCOP: 3), ``sampler.clip_len`` the
frames per clip (16), ``model.order_hidden`` the fc7 width (512), dropout 0.5 as VCOP. The gap
between clips is ``clip_len // 2`` frames (VCOP's interval 8 for 16-frame clips).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from vidssl.config import Config
from vidssl.method.baselines.vcop import VCOPHead
from vidssl.models.backbones import build_backbone

VCOP_DROPOUT = 0.5


def vcop_gap(cfg: Config) -> int:
    """Frames between consecutive VCOP clips: half a clip (VCOP's 8 for 16 frames)."""
    return cfg.sampler.clip_len // 2


class VCOPModel(nn.Module):
    """Backbone + pairwise order head; ``forward(batch) -> (loss, metrics)``.

    ``batch["clip"]`` is ``(B, n, 3, T, H, W)`` (the shuffled tuple), ``batch["order"]`` the
    permutation index. One backbone pass over all ``B * n`` clips, so BatchNorm sees the whole
    tuple batch, as in VCOP's code. A training sample therefore costs ``n`` backbone forwards
    (Table VIII: 3 x 38.6 GMACs with C3D).
    """

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        m = cfg.model
        self.n = cfg.sampler.n_segments
        self.num_classes = math.factorial(self.n)
        self.backbone = build_backbone(m.backbone, m.width, **m.backbone_args)
        self.head = VCOPHead(int(self.backbone.feature_dim), self.n, hidden=m.order_hidden,
                             dropout=VCOP_DROPOUT)

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
