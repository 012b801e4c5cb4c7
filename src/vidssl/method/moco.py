"""MoCo pieces (DESIGN section 3): momentum update, the FIFO key queue and InfoNCE.

The key encoder trails the query encoder, ``theta_k <- m theta_k + (1 - m) theta_q``, so the
keys in the queue were all made by nearly the same network and stay comparable across many
steps; the queue supplies thousands of negatives without a large batch.
"""

from __future__ import annotations

from collections.abc import Iterable

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
