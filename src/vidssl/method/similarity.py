"""Shuffle similarity (DESIGN section 4, the paper's Algorithm 1) and the cosine baseline.

A query clip and its key differ in segment order, so the ``n`` chunks of their features need
not line up position by position. Shuffle similarity splits each ``d``-dim feature into
``k = n`` chunks, L2-normalizes every chunk, and measures the distance of the best one-to-one
matching of chunks: *greedy* (the paper's: repeatedly take the smallest remaining entry of the
``k x k`` chunk-distance matrix and retire its row and column) or *optimal* (minimum over all
``k!`` assignments). The InfoNCE logit is ``-dis / (k * tau)``.

Everything is batched: a batch of ``B`` queries against ``K`` queue entries builds one
``(B, K, k, k)`` tensor; the only Python loops run over the ``k`` chunks or the ``k!``
permutations, never over ``B`` or ``K``.

Cost and gradients: the matching is a discrete choice, so it is made on detached squared
distances (the square root is monotone, so greedy choices on squared distances are the
choices on distances); only the ``k`` selected entries per pair then get a square root with
gradient. This keeps the autograd graph to one matrix product, one gather and ``B x K x k``
square roots, and gradients flow to both inputs through exactly the selected distances.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

SIMILARITIES = ("cosine", "shuffle")
MATCHINGS = ("greedy", "optimal")

# Added inside the square root: keeps the gradient finite where two chunks coincide
# (d sqrt(x)/dx is infinite at 0); it shifts a zero distance by only 1e-6.
SQRT_EPS = 1e-12


def _chunked(x: Tensor, chunks: int) -> Tensor:
    """``(N, d)`` -> ``(N, chunks, d / chunks)`` with every chunk L2-normalized (in float32)."""
    if x.dim() != 2:
        raise ValueError(f"expected a (N, d) feature matrix, got shape {tuple(x.shape)}")
    n, d = x.shape
    if chunks < 1 or d % chunks:
        raise ValueError(f"feature size {d} is not divisible into {chunks} equal chunks")
    # Distances are compared against each other across a large queue: bf16/fp16 rounding would
    # decide the matching, so the similarity always runs in float32.
    return F.normalize(x.float().reshape(n, chunks, d // chunks), dim=-1)


def _sq_dists_all(qc: Tensor, kc: Tensor) -> Tensor:
    """Squared chunk distances of every query against every key: ``(B, K, k, k)``.

    ``|a - b|^2 = |a|^2 + |b|^2 - 2 a.b`` with one matrix product over all chunk pairs
    (much faster than ``cdist`` on ``B*k x K*k`` rows, and its backward is one more product).
    """
    b, k, c = qc.shape
    n_keys = kc.shape[0]
    dot = (qc.reshape(b * k, c) @ kc.reshape(n_keys * k, c).t()).view(b, k, n_keys, k)
    qn = qc.square().sum(-1)  # (B, k), 1 unless a chunk is all zeros
    kn = kc.square().sum(-1)  # (K, k)
    sq = qn[:, :, None, None] + kn[None, None, :, :] - 2.0 * dot  # (B, k, K, k)
    # (B, K, k, k): [query, key, query chunk, key chunk]; contiguous so each pair's k x k block
    # is one row of k*k for the matching.
    return sq.transpose(1, 2).contiguous()


def _sq_dists_paired(qc: Tensor, kc: Tensor) -> Tensor:
    """Squared chunk distances of query ``i`` against key ``i``: ``(B, k, k)``."""
    dot = torch.einsum("bic,bjc->bij", qc, kc)
    return qc.square().sum(-1)[:, :, None] + kc.square().sum(-1)[:, None, :] - 2.0 * dot


def _greedy_selection(sq: Tensor) -> Tensor:
    """Flat indices ``(..., k)`` into the last two dims chosen by Algorithm 1's greedy matching.

    Each of the ``k`` rounds takes the smallest entry among unused rows and columns (ties: the
    first in row-major order, like ``argmin``) and retires its row and column by setting them to
    infinity, all pairs at once.
    """
    k = sq.shape[-1]
    work = sq.detach().clone()
    lead = work.shape[:-2]
    picks = []
    for _ in range(k):
        flat = work.view(*lead, k * k).argmin(-1)  # (...)
        picks.append(flat)
        row = (flat // k)[..., None, None].expand(*lead, 1, k)
        col = (flat % k)[..., None, None].expand(*lead, k, 1)
        work.scatter_(-2, row, float("inf"))
        work.scatter_(-1, col, float("inf"))
    return torch.stack(picks, dim=-1)


@lru_cache(maxsize=8)
def _permutation_indices(k: int) -> Tensor:
    """Flat ``k x k`` indices of every assignment: row ``i`` of assignment ``p`` -> ``p[i]``."""
    perms = torch.tensor(list(itertools.permutations(range(k))), dtype=torch.long)  # (k!, k)
    return perms + torch.arange(k) * k


def _optimal_selection(sq: Tensor) -> Tensor:
    """Flat indices ``(..., k)`` of the assignment with the smallest summed distance.

    Sums are accumulated one chunk at a time, so memory is ``(..., k!)`` rather than
    ``(..., k!, k)``; exhaustive search is exact and cheap for ``k <= 5`` (120 assignments).
    """
    k = sq.shape[-1]
    dist = torch.sqrt(sq.detach().clamp_min(0.0) + SQRT_EPS)
    lead = dist.shape[:-2]
    flat = dist.reshape(*lead, k * k)
    table = _permutation_indices(k).to(sq.device)  # (k!, k)
    total = flat[..., table[:, 0]]
    for i in range(1, k):
        total = total + flat[..., table[:, i]]
    best = total.argmin(-1)  # (...)
    return table[best]  # (..., k)


def _matched_distance(sq: Tensor, matching: str) -> Tensor:
    """Sum of the matched chunk distances: ``(..., k, k)`` squared distances -> ``(...)``."""
    if matching == "greedy":
        picks = _greedy_selection(sq)
    elif matching == "optimal":
        picks = _optimal_selection(sq)
    else:
        raise ValueError(f"matching must be one of {', '.join(MATCHINGS)}; got '{matching}'")
    k = sq.shape[-1]
    chosen = sq.reshape(*sq.shape[:-2], k * k).gather(-1, picks)
    return torch.sqrt(chosen.clamp_min(0.0) + SQRT_EPS).sum(-1)


def shuffle_distance(q: Tensor, k: Tensor, chunks: int, matching: str = "greedy") -> Tensor:
    """Matched chunk distance of every query against every key.

    Args:
        q: ``(B, d)`` query features.
        k: ``(K, d)`` key features (e.g. the queue), ``d`` divisible by ``chunks``.
        chunks: the number of chunks ``k`` (= the number of segments ``n``).
        matching: ``"greedy"`` (Algorithm 1) or ``"optimal"`` (best of all ``k!`` matchings).

    Returns:
        ``(B, K)`` float32 distances, each in ``[0, 2 * chunks]``.
    """
    return _matched_distance(_sq_dists_all(_chunked(q, chunks), _chunked(k, chunks)), matching)


def paired_shuffle_distance(
    q: Tensor, k: Tensor, chunks: int, matching: str = "greedy"
) -> Tensor:
    """Matched chunk distance of query ``i`` against key ``i`` (the positives): ``(B,)``."""
    if q.shape != k.shape:
        raise ValueError(f"paired features must have equal shapes; got {q.shape}, {k.shape}")
    return _matched_distance(_sq_dists_paired(_chunked(q, chunks), _chunked(k, chunks)), matching)


def _check_kind(kind: str) -> None:
    if kind not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}; got '{kind}'")


def similarity_logits(
    q: Tensor,
    k: Tensor,
    kind: str = "shuffle",
    chunks: int = 3,
    matching: str = "greedy",
    tau: float = 0.07,
) -> Tensor:
    """InfoNCE logits of every query against every key: ``(B, K)`` float32.

    ``cosine``: MoCo's ``cos(q, k) / tau``. ``shuffle``: ``-dis / (chunks * tau)``; with one
    chunk ``dis = sqrt(2 - 2 cos)``, a decreasing function of the cosine, so the logit is an
    increasing one and the two agree on the ranking of keys.
    """
    _check_kind(kind)
    if kind == "cosine":
        return F.normalize(q.float(), dim=-1) @ F.normalize(k.float(), dim=-1).t() / tau
    return shuffle_distance(q, k, chunks, matching) / (-chunks * tau)


def positive_logits(
    q: Tensor,
    k: Tensor,
    kind: str = "shuffle",
    chunks: int = 3,
    matching: str = "greedy",
    tau: float = 0.07,
) -> Tensor:
    """InfoNCE logits of query ``i`` against its own key ``i``: ``(B,)`` float32."""
    _check_kind(kind)
    if kind == "cosine":
        return (F.normalize(q.float(), dim=-1) * F.normalize(k.float(), dim=-1)).sum(-1) / tau
    return paired_shuffle_distance(q, k, chunks, matching) / (-chunks * tau)
