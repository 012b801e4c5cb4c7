"""The flagship method ``order-rate-moco``: order + rate prediction + MoCo with shuffle similarity.

(Called ``ours`` before it had a name; configs saying ``ours`` still load.)

``L = l1 * L_order + l2 * L_rate + l3 * L_contrastive`` (DESIGN section 6). A weight of 0 turns
its term off completely: the head is not built, nothing is computed for it, and with
``loss.contrastive = 0`` there is no projection head, key encoder or queue at all (so the
ablations of Table VI cost only what they use).

The model is built from plain parts (:class:`PretextModel`); :meth:`PretextModel.from_config`
reads a config, and the method's registry entry (bottom of this file) names its dataset
(:class:`~vidssl.data.datasets.PretextDataset` with :class:`~vidssl.data.sampling.PretextSampler`)
and an example batch.

Training-step protocol (what ``vidssl.train.pretrain`` does)::

    loss, metrics = model(batch)      # keys are computed here and held until after_step
    loss.backward(); optimizer.step()
    model.after_step()                # momentum update of the key encoder, then enqueue

Why enqueue in ``after_step`` rather than inside ``forward`` (MoCo's way): the negatives' logits
keep a reference to the queue for the backward pass, so changing it inside ``forward`` would
need a copy of the whole queue each step; and a forward that is not followed by an optimizer
step (evaluation, a skipped step) then never changes the queue. ``after_step`` does nothing
unless the last forward was a *training step*: ``model.training`` and gradients enabled. Any
other forward (``model.eval()`` or ``torch.no_grad()``) reads the queue and key encoder but
never changes them: it runs the key encoder with BN in eval mode and stashes no keys.

Metrics (detached tensors, no host sync): ``loss``, the weighted total; one ``loss_<term>`` per
enabled term, unweighted, so a trainer can name the term that went non-finite; ``order_acc``;
``rate_mse`` (in raw rate units, also in classification mode); ``contrastive_acc`` (positive
logit above every negative).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidssl.data.datasets import PretextDataset
from vidssl.data.sampling import PretextSampler
from vidssl.errors import ConfigError
from vidssl.method import moco as moco_lib
from vidssl.method.registry import register_method
from vidssl.models.backbones import build_backbone
from vidssl.models.heads import OrderHead, RateHead

if TYPE_CHECKING:
    from vidssl.config import Config

KeyGenerator = Callable[[Tensor], Tensor]


def check(cfg: Config) -> None:
    """At least one loss term must be on."""
    lc = cfg.loss
    if lc.order == 0 and lc.rate == 0 and lc.contrastive == 0:
        raise ConfigError("loss.order, loss.rate and loss.contrastive are all 0: nothing to learn")


def dataset(cfg: Config, source: Any, transform: Any, seed: int) -> Any:
    """Pretext clips (DESIGN section 2): shuffled segments at drawn rates, plus a key clip of
    the same video when the contrastive term is on."""
    return PretextDataset(source, PretextSampler.from_config(cfg.sampler), transform, seed=seed,
                          with_key=cfg.loss.contrastive > 0)


def example_batch(cfg: Config, batch_size: int) -> dict[str, Tensor]:
    """Random clips and keys with the shapes of a real batch; order and rate labels in range."""
    s, b, c = cfg.sampler, batch_size, cfg.data.crop
    return {
        "clip": torch.randn(b, 3, s.clip_len, c, c),
        "key": torch.randn(b, 3, s.clip_len, c, c),
        "order": torch.randint(0, math.factorial(s.n_segments), (b,)),
        "rates": torch.randint(s.rate_min, s.rate_max + 1, (b, s.n_segments)).float(),
    }


@register_method("order-rate-moco", dataset=dataset, example_batch=example_batch,
                 uses_queue=True, view_keys=True, check=check)
class PretextModel(nn.Module):
    """Query backbone + order/rate/projection heads, momentum key encoder and key queue.

    Attributes other modules rely on: ``backbone`` (the query backbone: what evaluation
    extracts), ``forward(batch) -> (loss, metrics)``, ``after_step()``, ``moco`` (the whole
    contrastive term, :class:`vidssl.method.moco.MoCo`, or None when its weight is 0) and
    ``set_key_generator(fn, p)`` (view-synthesis keys).

    Args:
        backbone: the query encoder, with ``feature_dim``.
        n_segments: segments per clip ``n`` (the order head has ``n!`` classes).
        rate_min: the smallest sampling rate (class 0 of a classifying rate head).
        order_head / rate_head: the heads of the terms in use (None = the term is off).
        moco: the contrastive term, holding ``backbone``'s key encoder (None = off).
        order_weight / rate_weight / contrastive_weight: ``l1, l2, l3`` of the total loss.
        dropout: before the order and rate heads.
    """

    # every trainable weight gets a gradient each step (heads are built only for terms in use),
    # so DDP need not search the autograd graph for unused parameters
    uses_all_parameters = True

    def __init__(self, backbone: nn.Module, n_segments: int, rate_min: int, *,
                 order_head: OrderHead | None = None, rate_head: RateHead | None = None,
                 moco: moco_lib.MoCo | None = None, order_weight: float = 1.0,
                 rate_weight: float = 0.3, contrastive_weight: float = 1.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if order_head is None and rate_head is None and moco is None:
            raise ConfigError(
                "loss.order, loss.rate and loss.contrastive are all 0: nothing to learn"
            )
        self.n = n_segments
        self.rate_min = rate_min
        self.rate_mode = rate_head.mode if rate_head is not None else "regression"
        self.num_rates = rate_head.num_rates if rate_head is not None else 1
        self.w_order, self.w_rate = float(order_weight), float(rate_weight)
        self.w_contrastive = float(contrastive_weight)
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.order_head = order_head
        self.rate_head = rate_head
        self.moco = moco
        moco_lib.accept_legacy_keys(self)

        self._key_generator: KeyGenerator | None = None
        self._key_p = 0.0

    @classmethod
    def from_config(cls, cfg: Config) -> PretextModel:
        """The model of a config: ``model.*`` (backbone, heads, dropout), ``loss.*`` (weights;
        a 0 weight builds no part for its term), ``sampler.*`` (``n``, rate range) and the MoCo
        of :func:`vidssl.method.moco.from_config`. Parts are built in a fixed order (backbone,
        order head, rate head, MoCo), so a seed gives the same initial weights."""
        check(cfg)
        m, lc, s = cfg.model, cfg.loss, cfg.sampler
        backbone = build_backbone(m.backbone, m.width, **m.backbone_args)
        feat = int(backbone.feature_dim)
        order_head = (OrderHead(feat, math.factorial(s.n_segments), m.order_hidden,
                                relu=m.order_relu) if lc.order > 0 else None)
        rate_head = (RateHead(feat, s.n_segments, m.rate_mode, s.rate_max - s.rate_min + 1)
                     if lc.rate > 0 else None)
        contrastive = moco_lib.from_config(cfg, backbone) if lc.contrastive > 0 else None
        return cls(backbone, s.n_segments, s.rate_min, order_head=order_head,
                   rate_head=rate_head, moco=contrastive, order_weight=lc.order,
                   rate_weight=lc.rate, contrastive_weight=lc.contrastive, dropout=m.dropout)

    # ---------------------------------------------------------------- key path (MoCo)

    def set_key_generator(self, fn: KeyGenerator | None, p: float) -> None:
        """Use ``fn(query_clip)`` as the key of each training sample with probability ``p``.

        ``fn`` maps a ``(b, 3, T, H, W)`` clip batch to synthesized views of the same shape (the
        frozen view-synthesis generator). The per-sample draw uses the global CPU torch RNG, whose
        state the trainer checkpoints, so a resumed run draws the same keys; evaluation forwards
        never draw (their keys are always ``batch["key"]``), so they do not shift that RNG.
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"view.p must be in [0, 1]; got {p}")
        self._key_generator = fn
        self._key_p = float(p) if fn is not None else 0.0

    def _key_clips(self, batch: dict[str, Tensor], training: bool) -> Tensor:
        clip = batch["clip"]
        key = batch.get("key")
        use_synth = training and self._key_generator is not None and self._key_p > 0
        if key is None and not (use_synth and self._key_p >= 1.0):
            raise KeyError(
                "the contrastive term needs batch['key'] (the resampled clip of the same video); "
                "build the dataset with with_key=True"
            )
        if not use_synth:
            return key
        assert self._key_generator is not None
        chosen = (torch.rand(clip.shape[0]) < self._key_p).nonzero().flatten()  # CPU: no sync
        if chosen.numel() == 0:
            return key
        idx = chosen.to(clip.device, non_blocking=True)
        synth = self._key_generator(clip.index_select(0, idx)).to(clip.dtype)
        if chosen.numel() == clip.shape[0]:
            return synth
        return key.index_copy(0, idx, synth)

    # ---------------------------------------------------------------- forward

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """``batch``: ``clip`` (B,3,T,H,W), ``order`` (B,), ``rates`` (B,n) raw, ``key``."""
        training = self.training and torch.is_grad_enabled()
        feats = moco_lib.query_features(self.moco, self.backbone, batch["clip"])
        metrics: dict[str, Tensor] = {}
        terms: list[Tensor] = []

        if self.order_head is not None:
            logits = self.order_head(self.dropout(feats))
            order = batch["order"]
            loss_order = F.cross_entropy(logits.float(), order)
            terms.append(self.w_order * loss_order)
            metrics["loss_order"] = loss_order.detach()
            metrics["order_acc"] = (logits.detach().argmax(1) == order).float().mean()

        if self.rate_head is not None:
            out = self.rate_head(self.dropout(feats)).float()
            rates = batch["rates"].float()
            if self.rate_mode == "classification":
                logits = out.reshape(-1, self.n, self.num_rates)
                target = (rates.round().long() - self.rate_min).clamp_(0, self.num_rates - 1)
                loss_rate = F.cross_entropy(logits.flatten(0, 1), target.flatten())
                pred = (logits.detach().argmax(-1) + self.rate_min).float()
            else:
                loss_rate = F.mse_loss(out, rates)
                pred = out.detach()
            terms.append(self.w_rate * loss_rate)
            metrics["loss_rate"] = loss_rate.detach()
            metrics["rate_mse"] = F.mse_loss(pred, rates)

        if self.moco is not None:
            self.moco.add_term(feats, self._key_clips(batch, training), training,
                               self.w_contrastive, terms, metrics, batch.get("index"))

        loss = torch.stack(terms).sum() if len(terms) > 1 else terms[0]
        metrics["loss"] = loss.detach()
        return loss, metrics

    def after_step(self) -> None:
        """After ``optimizer.step()``: the key encoder's momentum update and the enqueue."""
        if self.moco is not None:
            self.moco.after_step(self.backbone)
