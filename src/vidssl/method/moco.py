"""MoCo pieces (DESIGN section 3): momentum update, the FIFO key queue and InfoNCE.

The key encoder trails the query encoder, ``theta_k <- m theta_k + (1 - m) theta_q``, so the
keys in the queue were all made by nearly the same network and stay comparable across many
steps; the queue supplies thousands of negatives without a large batch.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@torch.no_grad()
def momentum_update(key_params: Iterable[Tensor], query_params: Iterable[Tensor], m: float) -> None:
    """``theta_k <- m theta_k + (1 - m) theta_q`` for every pair, in place.

    One fused ``_foreach_lerp_`` over all tensors (``k + (1-m)(q - k)`` is the same update):
    a per-parameter Python loop would launch two kernels per tensor every step.
    """
    keys = list(key_params)
    queries = list(query_params)
    if len(keys) != len(queries):
        raise ValueError(f"key encoder has {len(keys)} tensors, query encoder {len(queries)}")
    if not keys:
        return
    torch._foreach_lerp_(keys, queries, 1.0 - m)


class KeyQueue(nn.Module):
    """A fixed-length FIFO of past keys, kept as a ring buffer.

    ``keys`` (size, dim) and the write pointer ``ptr`` are buffers, so the queue is saved in and
    restored from the model's ``state_dict`` and moves with ``.to(device)``. Enqueueing writes
    over the oldest entries; the length never changes. The pointer stays a device tensor so an
    enqueue never waits for the GPU (no ``.item()``).

    The queue starts filled with random unit vectors, as in MoCo: they act as uninformative
    negatives until the first ``size / batch`` steps have replaced them.
    """

    keys: Tensor
    ptr: Tensor

    def __init__(self, size: int, dim: int, seed: int = 0) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be >= 1; got {size}, {dim}")
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=g), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, new: Tensor) -> None:
        """Append ``new`` (b, dim), overwriting the ``b`` oldest entries (the last ``size`` if
        ``b > size``)."""
        if new.dim() != 2 or new.shape[1] != self.keys.shape[1]:
            raise ValueError(
                f"keys must be (b, {self.keys.shape[1]}); got shape {tuple(new.shape)}"
            )
        new = new.detach()[-self.size :].to(self.keys.dtype)
        b = new.shape[0]
        idx = (self.ptr + torch.arange(b, device=self.keys.device)) % self.size
        self.keys.index_copy_(0, idx, new)
        self.ptr.copy_((self.ptr + b) % self.size)

    def newest_first(self) -> Tensor:
        """All entries ordered from the most recently enqueued to the oldest: ``(size, dim)``."""
        idx = (self.ptr - 1 - torch.arange(self.size, device=self.keys.device)) % self.size
        return self.keys.index_select(0, idx)


def info_nce(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
    """InfoNCE over ``[positive, negatives]`` with logits already divided by the temperature.

    Args:
        pos: ``(B,)`` logit of each query against its own key.
        neg: ``(B, K)`` logits against the queue.

    Returns:
        ``(loss, acc)``: the mean cross-entropy with the positive as class 0, and the fraction of
        queries whose positive beats every negative (a detached diagnostic).
    """
    logits = torch.cat([pos[:, None], neg], dim=1)
    loss = torch.logsumexp(logits, dim=1).sub(pos).mean()
    with torch.no_grad():
        acc = (pos > neg.max(dim=1).values).float().mean()
    return loss, acc


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Run ``module`` in eval mode (BN running stats read, not updated), then restore."""
    was = module.training
    module.train(False)
    try:
        yield
    finally:
        module.train(was)


class MomentumContrast:
    """The MoCo key path, mixed into every model that has a contrastive term.

    Expects ``self.backbone`` (the query backbone) and keeps, as attributes of the model itself
    (so they appear in its ``state_dict``): ``projection`` (query projection head),
    ``key_backbone`` / ``key_projection`` (the momentum copies) and ``queue``. The step protocol
    is the one documented in ``vidssl.method.multitask``: ``contrastive_loss`` stashes the keys
    of a training forward, ``after_step`` momentum-updates the key encoder and enqueues them.
    ``encode_keys`` and ``gather_keys`` are the hooks a distributed trainer replaces
    (shuffle-BN, all-gather) on the instance.
    """

    backbone: nn.Module
    projection: nn.Module | None
    key_backbone: nn.Module | None
    key_projection: nn.Module | None
    queue: KeyQueue | None
    _pending_keys: Tensor | None

    def _init_contrast(self, cfg: Any, enabled: bool) -> None:
        """Build the projection head, the key encoder (an exact copy) and the queue."""
        from vidssl.models.heads import ProjectionHead

        c = cfg.contrastive
        self.tau, self.momentum = c.temperature, c.momentum
        self.proj_dim = cfg.projection_dim()
        self.projection = self.key_backbone = self.key_projection = None
        self.queue = None
        self._pending_keys = None
        if not enabled:
            return
        feat = int(self.backbone.feature_dim)  # type: ignore[attr-defined]
        self.projection = ProjectionHead(feat, cfg.model.proj_hidden or feat, self.proj_dim)
        # the key encoder starts as an exact copy and only ever moves by momentum
        self.key_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.key_projection = copy.deepcopy(self.projection).requires_grad_(False)
        self.queue = KeyQueue(c.queue_size, self.proj_dim, seed=cfg.train.seed)

    def encode_keys(self, x: Tensor) -> Tensor:
        """Key encoder (backbone + projection) on ``x``; called without gradient.

        Kept as one method so a distributed trainer can wrap it with shuffle-BN (permute the
        batch across ranks, encode, un-permute), as MoCo does.
        """
        assert self.key_backbone is not None and self.key_projection is not None
        return self.key_projection(self.key_backbone(x))

    def gather_keys(self, keys: Tensor) -> Tensor:
        """Keys entering the queue. Single process: this step's keys; a distributed trainer
        replaces it with an all-gather so every rank's queue holds every rank's keys."""
        return keys

    def contrastive_loss(self, feats: Tensor, key_clip: Tensor, training: bool,
                         **similarity: Any) -> tuple[Tensor, Tensor]:
        """InfoNCE of the queries ``projection(feats)`` against the keys of ``key_clip`` (the
        positives) and the queue (the negatives); ``similarity`` goes to the logit functions
        (``kind``, ``chunks``, ``matching``). Returns (loss, accuracy)."""
        from vidssl.method.similarity import positive_logits, similarity_logits

        assert self.projection is not None and self.queue is not None
        assert self.key_backbone is not None and self.key_projection is not None
        q = self.projection(feats)
        with torch.no_grad():
            if training:
                keys = self.encode_keys(key_clip)
            else:  # evaluation reads BN running statistics and changes nothing
                with eval_mode(self.key_backbone), eval_mode(self.key_projection):
                    keys = self.encode_keys(key_clip)
            keys = keys.float()
        pos = positive_logits(q, keys, tau=self.tau, **similarity)
        neg = similarity_logits(q, self.queue.keys, tau=self.tau, **similarity)
        loss, acc = info_nce(pos, neg)
        if training:
            self._pending_keys = keys
        return loss, acc

    @torch.no_grad()
    def after_step(self) -> None:
        """Momentum-update the key encoder and enqueue the keys of the last training forward.

        Call once after each ``optimizer.step()``. A no-op when the contrastive term is off or
        the last forward was not a training step.
        """
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
