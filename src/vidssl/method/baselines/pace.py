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
with temperature ``contrastive.temperature``), so Pace and ours differ only in the pretext task,
not in how negatives are found. ``L = loss.rate * L_pace + loss.contrastive * L_contrastive``;
Pace used weights 1 and 0.1 (``configs/baselines/pace.yaml``); ``loss.contrastive: 0`` is
pace classification alone, with no key encoder built.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vidssl.config import Config, ConfigError
from vidssl.method import moco
from vidssl.method.baselines.prp import RateClassifier


def pace_rates(cfg: Config) -> list[int]:
    """The pace classes for this config: every integer in ``[rate_min, rate_max]``."""
    s = cfg.sampler
    rates = list(range(s.rate_min, s.rate_max + 1))
    if len(rates) < 2:
        raise ConfigError(
            f"loss.method=pace needs sampler.rate_max > sampler.rate_min; got "
            f"[{s.rate_min}, {s.rate_max}]"
        )
    return rates


class PaceModel(RateClassifier):
    """Pace classifier + MoCo; the same training-step protocol as ``PretextModel``
    (``forward`` stashes the keys, ``after_step`` momentum-updates and enqueues them)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg, len(pace_rates(cfg)))
        self.w_rate, self.w_contrastive = cfg.loss.rate, cfg.loss.contrastive
        if self.w_rate == 0 and self.w_contrastive == 0:
            raise ConfigError("loss.rate and loss.contrastive are both 0: nothing to learn")
        self.moco = (moco.from_config(cfg, self.backbone, similarity="cosine")
                     if self.w_contrastive > 0 else None)
        self._register_load_state_dict_pre_hook(
            lambda state, prefix, *_: moco.rename_legacy_keys(state, prefix))

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        training = self.training and torch.is_grad_enabled()
        if self.moco is not None:  # in BN sub-batches, so no query shares BN with its key
            feats = self.moco.encode_queries(self.backbone, batch["clip"])
        else:
            feats = self.backbone(batch["clip"])
        metrics: dict[str, Tensor] = {}
        terms: list[Tensor] = []
        if self.w_rate > 0:
            loss_rate, acc = self.rate_loss(feats, batch["rate"])
            terms.append(self.w_rate * loss_rate)
            metrics["loss_rate"] = loss_rate.detach()
            metrics["rate_acc"] = acc
        if self.moco is not None:
            loss_con, acc = self.moco.loss(feats, batch["key"], training)
            terms.append(self.w_contrastive * loss_con)
            metrics["loss_contrastive"] = loss_con.detach()
            metrics["contrastive_acc"] = acc
        loss = torch.stack(terms).sum() if len(terms) > 1 else terms[0]
        metrics["loss"] = loss.detach()
        return loss, metrics

    def after_step(self) -> None:
        """After ``optimizer.step()``: the key encoder's momentum update and the enqueue."""
        if self.moco is not None:
            self.moco.after_step(self.backbone)
