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

import copy
import itertools

import torch
from torch import Tensor, nn

from vidssl.config import Config, ConfigError
from vidssl.method.baselines.prp import RateClassifier
from vidssl.method.moco import KeyQueue, info_nce, momentum_update
from vidssl.method.similarity import positive_logits, similarity_logits
from vidssl.models.heads import ProjectionHead


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
        c = cfg.contrastive
        self.tau, self.momentum = c.temperature, c.momentum
        self.projection: nn.Module | None = None
        self.key_backbone: nn.Module | None = None
        self.key_projection: nn.Module | None = None
        self.queue: KeyQueue | None = None
        self._pending_keys: Tensor | None = None
        if self.w_contrastive > 0:
            feat = int(self.backbone.feature_dim)
            dim = cfg.projection_dim()
            self.projection = ProjectionHead(feat, cfg.model.proj_hidden or feat, dim)
            self.key_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
            self.key_projection = copy.deepcopy(self.projection).requires_grad_(False)
            self.queue = KeyQueue(c.queue_size, dim, seed=cfg.train.seed)

    def encode_keys(self, x: Tensor) -> Tensor:
        """Key encoder on ``x`` (one method, so a distributed trainer can wrap it)."""
        assert self.key_backbone is not None and self.key_projection is not None
        return self.key_projection(self.key_backbone(x))

    def gather_keys(self, keys: Tensor) -> Tensor:
        """Keys entering the queue (identity in one process)."""
        return keys

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        training = self.training and torch.is_grad_enabled()
        feats = self.backbone(batch["clip"])
        metrics: dict[str, Tensor] = {}
        terms: list[Tensor] = []
        if self.w_rate > 0:
            loss_rate, acc = self.rate_loss(feats, batch["rate"])
            terms.append(self.w_rate * loss_rate)
            metrics["loss_rate"] = loss_rate.detach()
            metrics["rate_acc"] = acc
        if self.projection is not None:
            assert self.queue is not None and self.key_backbone is not None
            assert self.key_projection is not None
            q = self.projection(feats)
            with torch.no_grad():
                was = self.key_backbone.training, self.key_projection.training
                if not training:  # evaluation reads BN running statistics, changes nothing
                    self.key_backbone.eval()
                    self.key_projection.eval()
                keys = self.encode_keys(batch["key"]).float()
                self.key_backbone.train(was[0])
                self.key_projection.train(was[1])
            pos = positive_logits(q, keys, kind="cosine", tau=self.tau)
            neg = similarity_logits(q, self.queue.keys, kind="cosine", tau=self.tau)
            loss_con, acc = info_nce(pos, neg)
            terms.append(self.w_contrastive * loss_con)
            metrics["loss_contrastive"] = loss_con.detach()
            metrics["contrastive_acc"] = acc
            if training:
                self._pending_keys = keys
        loss = torch.stack(terms).sum() if len(terms) > 1 else terms[0]
        metrics["loss"] = loss.detach()
        return loss, metrics

    @torch.no_grad()
    def after_step(self) -> None:
        """Momentum-update the key encoder and enqueue the last training step's keys."""
        keys, self._pending_keys = self._pending_keys, None
        if keys is None:
            return
        assert self.key_backbone is not None and self.key_projection is not None
        assert self.projection is not None and self.queue is not None
        momentum_update(
            itertools.chain(self.key_backbone.parameters(), self.key_projection.parameters()),
            itertools.chain(self.backbone.parameters(), self.projection.parameters()),
            self.momentum,
        )
        self.queue.enqueue(self.gather_keys(keys))
