"""Pace prediction, Pace-style (Wang et al. 2020, "Self-supervised video representation learning
by pace prediction"): pace classification plus a contrastive term.

Pace classification: one clip taken every ``p`` frames, ``p`` drawn uniformly from the integers
``[sampler.rate_min, sampler.rate_max]`` (Pace's fast paces by frame skipping; its slow paces,
made by repeating frames, are left out), a linear classifier predicts ``p``.

The contrastive part of Pace was never released. Our choice, written down so results can be read:
Pace reports that "same context" positives (two clips of the same video, at different paces)
beat "same pace" positives, so a query clip's positive is a second clip of the same video at an
independently drawn pace and position. The contrastive machinery is exactly the paper's method
with ``contrastive.similarity: cosine`` (MoCo: momentum key encoder, queue of negatives, InfoNCE
with temperature ``contrastive.temperature``), so Pace and order-rate-moco differ only in the
pretext task, not in how negatives are found.
``L = loss.rate * L_pace + loss.contrastive * L_contrastive``; Pace used weights 1 and 0.1
(the ``pace`` row of ``configs/compare/baselines.yaml``);
``loss.contrastive: 0`` is pace classification alone, with no key encoder built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from vidssl.data.records import VideoSource
from vidssl.data.transforms import ClipTransform
from vidssl.errors import ConfigError
from vidssl.method import moco as moco_lib
from vidssl.method.baselines.prp import RateClassifier, rate_example_batch
from vidssl.method.baselines.rate_clips import RateClipDataset
from vidssl.method.registry import register_method
from vidssl.models.backbones import build_backbone

if TYPE_CHECKING:
    from vidssl.config import Config


def pace_rates(cfg: Config) -> list[int]:
    """The pace classes for this config: every integer in ``[rate_min, rate_max]``."""
    s = cfg.sampler
    rates = list(range(s.rate_min, s.rate_max + 1))
    if len(rates) < 2:
        raise ConfigError(
            f"method: pace needs sampler.rate_max > sampler.rate_min; got "
            f"[{s.rate_min}, {s.rate_max}]"
        )
    return rates


def check(cfg: Config) -> None:
    """Two paces at least, and one loss term on."""
    pace_rates(cfg)
    if cfg.loss.rate == 0 and cfg.loss.contrastive == 0:
        raise ConfigError("loss.rate and loss.contrastive are both 0: nothing to learn")


def dataset(cfg: Config, source: VideoSource, transform: ClipTransform,
            seed: int) -> RateClipDataset:
    """One clip per sample at an integer pace, plus a key clip of the same video (own pace and
    position) when the contrastive term is on."""
    return RateClipDataset(source, transform, pace_rates(cfg), clip_len=cfg.sampler.clip_len,
                           seed=seed, with_key=cfg.loss.contrastive > 0)


def example_batch(cfg: Config, batch_size: int) -> dict[str, Tensor]:
    return rate_example_batch(cfg, batch_size, pace_rates(cfg), with_key=True)


@register_method("pace", dataset=dataset, example_batch=example_batch, uses_queue=True,
                 check=check)
class PaceModel(RateClassifier):
    """Pace classifier + MoCo; the same training-step protocol as ``PretextModel``
    (``forward`` stashes the keys, ``after_step`` momentum-updates and enqueues them).

    Args:
        backbone / rate_fc / dropout: as :class:`RateClassifier` (one class per pace).
        moco: the contrastive term on ``backbone`` (None = pace classification alone).
        rate_weight / contrastive_weight: the weights of the two terms.
    """

    def __init__(self, backbone: nn.Module, rate_fc: nn.Linear, *, dropout: float = 0.0,
                 moco: moco_lib.MoCo | None = None, rate_weight: float = 1.0,
                 contrastive_weight: float = 0.1) -> None:
        super().__init__(backbone, rate_fc, dropout)
        self.w_rate = float(rate_weight)
        self.w_contrastive = float(contrastive_weight) if moco is not None else 0.0
        if self.w_rate == 0 and moco is None:
            raise ConfigError("loss.rate and loss.contrastive are both 0: nothing to learn")
        self.moco = moco
        moco_lib.accept_legacy_keys(self)

    @classmethod
    def from_config(cls, cfg: Config) -> PaceModel:  # type: ignore[override]
        """``model.*`` backbone and dropout, one class per pace of :func:`pace_rates`,
        ``loss.rate`` / ``loss.contrastive`` weights, and a cosine-similarity MoCo of
        :func:`vidssl.method.moco.from_config` when ``loss.contrastive > 0``."""
        check(cfg)
        m, lc = cfg.model, cfg.loss
        backbone = build_backbone(m.backbone, m.width, **m.backbone_args)
        rate_fc = nn.Linear(int(backbone.feature_dim), len(pace_rates(cfg)))
        contrastive = (moco_lib.from_config(cfg, backbone, similarity="cosine")
                       if lc.contrastive > 0 else None)
        return cls(backbone, rate_fc, dropout=m.dropout, moco=contrastive,
                   rate_weight=lc.rate, contrastive_weight=lc.contrastive)
    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        training = self.training and torch.is_grad_enabled()
        feats = moco_lib.query_features(self.moco, self.backbone, batch["clip"])
        metrics: dict[str, Tensor] = {}
        terms: list[Tensor] = []
        if self.w_rate > 0:
            loss_rate, acc = self.rate_loss(feats, batch["rate"])
            terms.append(self.w_rate * loss_rate)
            metrics["loss_rate"] = loss_rate.detach()
            metrics["rate_acc"] = acc
        if self.moco is not None:
            self.moco.add_term(feats, batch["key"], training, self.w_contrastive, terms, metrics,
                               batch.get("index"))
        loss = torch.stack(terms).sum() if len(terms) > 1 else terms[0]
        metrics["loss"] = loss.detach()
        return loss, metrics

    def after_step(self) -> None:
        """After ``optimizer.step()``: the key encoder's momentum update and the enqueue."""
        if self.moco is not None:
            self.moco.after_step(self.backbone)
