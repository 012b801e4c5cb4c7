"""Shuffle similarity (DESIGN section 4, the paper's Algorithm 1) and the cosine baseline.

A query clip and its key differ in segment order, so the ``n`` chunks of their features need
not line up position by position. Shuffle similarity splits each ``d``-dim feature into
``k = n`` chunks, L2-normalizes every chunk, and measures the distance of the best one-to-one
matching of chunks: *greedy* (the paper's: repeatedly take the smallest remaining entry of the
``k x k`` chunk-distance matrix and retire its row and column) or *optimal* (minimum over all
``k!`` assignments). The InfoNCE logit is ``-dis / (k * tau)``.

Everything is batched: a batch of ``B`` queries against ``K`` queue entries builds one
``B x K x k x k`` tensor of chunk distances; the only Python loops run over the ``k`` chunks
or the ``k!`` permutations, never over ``B`` or ``K``.

Cost and gradients: the matching is a discrete choice, so it is made on detached squared
distances (the square root is monotone, so greedy choices on squared distances are the
choices on distances); only the ``k`` selected entries per pair then get a square root with
gradient. This keeps the autograd graph to one matrix product, one gather and ``B x K x k``
square roots, and gradients flow to both inputs through exactly the selected distances.
Non-finite features give non-finite distances (never an indexing error), so a trainer's
NaN check names the contrastive term.
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
# Stand-in for non-finite distances during the (discrete) matching; far above any real one (<=4).
_HUGE = 1e30


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
    """Squared chunk distances of every query against every key: ``(B, k, K, k)``.

    Entry ``[b, i, j, l]`` is ``|q_b chunk i - key_j chunk l|^2 = 2 - 2 <q_bi, k_jl>`` for unit
    chunks: one matrix product over all chunk pairs, computed as a single ``addmm`` (much faster
    than ``cdist`` on ``B*k x K*k`` rows, and its backward is two more products). The layout is
    the product's own, so nothing is copied. An all-zero chunk has no direction; it comes out
    at distance ``sqrt(2)`` from everything, as if orthogonal.
    """
    b, k, c = qc.shape
    n_keys = kc.shape[0]
    two = qc.new_full((1, 1), 2.0)
    sq = torch.addmm(two, qc.reshape(b * k, c), kc.reshape(n_keys * k, c).t(), alpha=-2.0)
    return sq.view(b, k, n_keys, k)


def _sq_dists_paired(qc: Tensor, kc: Tensor) -> Tensor:
    """Squared chunk distances of query ``b`` against key ``b``: ``(B, k, 1, k)``."""
    return (2.0 - 2.0 * torch.einsum("bic,blc->bil", qc, kc)).unsqueeze(2)


def _first_argmin(x: Tensor) -> Tensor:
    """``x.argmin(0)`` (ties to the first index, as a float of ``x``'s dtype, exact for the
    ``n <= 120`` used here) for a short leading dim of ``(B, K)`` planes.

    PyTorch's CPU ``argmin`` over a non-innermost dimension of size 3 to 120 runs an order of
    magnitude slower than ``amin`` there; this finds the minimum with ``amin`` and then the first
    index reaching it with one more ``amin`` over ``index + n * (x != min)``. ``x`` must hold
    no NaN (see :func:`_planes`).
    """
    n = x.shape[0]
    order = torch.arange(n, dtype=x.dtype, device=x.device).view(n, *([1] * (x.dim() - 1)))
    score = (x != x.amin(0)).to(x.dtype).mul_(n).add_(order)
    return score.amin(0)


def _planes(sq: Tensor) -> Tensor:
    """``(B, k, K, k)`` -> detached ``(k, k, B, K)``: one contiguous ``(B, K)`` plane per chunk
    pair, so every step of the matching is a pass over contiguous memory.

    Non-finite distances (from NaN/inf features) become a huge finite value here, so the
    matching stays a valid one-to-one assignment; the distance itself is then gathered from the
    untouched ``sq``, so a NaN still reaches the loss, where the trainer reports it.
    """
    return torch.nan_to_num(
        sq.detach().permute(1, 3, 0, 2), nan=_HUGE, posinf=_HUGE, neginf=_HUGE
    ).contiguous()


def _greedy_selection(sq: Tensor) -> tuple[Tensor, Tensor]:
    """Algorithm 1's greedy matching on ``(B, k, K, k)`` squared distances.

    Each of the ``k`` rounds takes, for every pair at once, the smallest entry among unused
    rows and columns (ties: the first in row-major order, like ``argmin`` on the ``k x k``
    matrix) and retires its row and column. Retired rows and columns are kept as small
    additive ``+inf`` penalties rather than written into the distances. Returns
    ``(rows, cols)``, each ``(B, K, k)``.
    """
    k = sq.shape[1]
    work = _planes(sq)  # (k, k, B, K)
    row_pen = work.new_zeros(k, 1, *work.shape[2:])
    col_pen = work.new_zeros(1, k, *work.shape[2:])
    rows: list[Tensor] = []
    cols: list[Tensor] = []
    for r in range(k - 1):
        cand = work if r == 0 else work + row_pen + col_pen
        flat = _first_argmin(cand.view(k * k, *work.shape[2:]))  # (B, K), float index
        row = torch.div(flat, k, rounding_mode="floor")  # float divmod: cheaper than int64
        col = (flat - row * k).long()
        row = row.long()
        rows.append(row)
        cols.append(col)
        row_pen.scatter_(0, row[None, None], float("inf"))
        col_pen.scatter_(1, col[None, None], float("inf"))
    # the last round has one row and one column left: no search needed
    zero = torch.zeros(work.shape[2:], dtype=torch.long, device=work.device)
    full = k * (k - 1) // 2  # sum of all row (column) indices
    rows.append(full - sum(rows, zero))
    cols.append(full - sum(cols, zero))
    return torch.stack(rows, -1), torch.stack(cols, -1)


@lru_cache(maxsize=8)
def _permutations(k: int) -> Tensor:
    """All ``k!`` assignments as rows: assignment ``p`` matches query chunk ``i`` to ``p[i]``."""
    return torch.tensor(list(itertools.permutations(range(k))), dtype=torch.long)  # (k!, k)


def _optimal_selection(sq: Tensor) -> tuple[Tensor, Tensor]:
    """The assignment with the smallest summed distance, on ``(B, k, K, k)`` squared distances.

    Sums are accumulated one query chunk at a time over ``(k!, B, K)`` planes; exhaustive
    search is exact and cheap for ``k <= 5`` (120 assignments). Returns ``(rows, cols)``,
    each ``(B, K, k)``.
    """
    b, k, n_keys, _ = sq.shape
    dist = torch.sqrt(_planes(sq).clamp_min_(0.0) + SQRT_EPS)  # (k, k, B, K)
    perms = _permutations(k).to(sq.device)
    total = dist[0].index_select(0, perms[:, 0])  # (k!, B, K)
    for i in range(1, k):
        total += dist[i].index_select(0, perms[:, i])
    best = _first_argmin(total).long()  # (B, K)
    cols = perms[best]  # (B, K, k)
    rows = torch.arange(k, device=sq.device).expand(b, n_keys, k)
    return rows, cols


def _matched_distance(sq: Tensor, matching: str) -> Tensor:
    """Sum of the matched chunk distances: ``(B, k, K, k)`` squared distances -> ``(B, K)``.

    Only the ``k`` selected entries per pair get a square root and a gradient.
    """
    if matching == "greedy":
        rows, cols = _greedy_selection(sq)
    elif matching == "optimal":
        rows, cols = _optimal_selection(sq)
    else:
        raise ValueError(f"matching must be one of {', '.join(MATCHINGS)}; got '{matching}'")
    b, k, n_keys, _ = sq.shape
    # flat position of [b, row, j, col] inside sample b's (k, K, k) block
    j = torch.arange(n_keys, device=sq.device)[None, :, None]
    flat = rows * (n_keys * k) + j * k + cols  # (B, K, k)
    chosen = sq.reshape(b, k * n_keys * k).gather(1, flat.reshape(b, n_keys * k))
    return torch.sqrt(chosen.clamp_min(0.0) + SQRT_EPS).view(b, n_keys, k).sum(-1)


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
    sq = _sq_dists_paired(_chunked(q, chunks), _chunked(k, chunks))
    return _matched_distance(sq, matching)[:, 0]


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
