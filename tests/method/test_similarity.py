"""Shuffle similarity against a plain transcription of the paper's Algorithm 1."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from vidssl.method.similarity import (
    paired_shuffle_distance,
    positive_logits,
    shuffle_distance,
    similarity_logits,
)


def _normalized_chunks(v: list[float], k: int) -> list[list[float]]:
    c = len(v) // k
    out = []
    for i in range(k):
        chunk = v[i * c : (i + 1) * c]
        norm = math.sqrt(sum(x * x for x in chunk))
        out.append([x / norm for x in chunk])
    return out


def algorithm1(q: list[float], key: list[float], k: int, matching: str = "greedy") -> float:
    """Algorithm 1 with plain loops: chunk distance matrix, then k greedy picks (or the best of
    all k! assignments)."""
    qc, kc = _normalized_chunks(q, k), _normalized_chunks(key, k)
    dmat = [
        [math.sqrt(sum((a - b) ** 2 for a, b in zip(qc[i], kc[j]))) for j in range(k)]
        for i in range(k)
    ]
    if matching == "optimal":
        return min(sum(dmat[i][p[i]] for i in range(k)) for p in itertools.permutations(range(k)))
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    dis = 0.0
    while len(used_rows) < k:
        best = None
        for i in range(k):
            for j in range(k):
                if i in used_rows or j in used_cols:
                    continue
                if best is None or dmat[i][j] < dmat[best[0]][best[1]]:
                    best = (i, j)
        assert best is not None
        dis += dmat[best[0]][best[1]]
        used_rows.add(best[0])
        used_cols.add(best[1])
    return dis


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("matching", ["greedy", "optimal"])
def test_matches_plain_algorithm(k: int, matching: str) -> None:
    g = torch.Generator().manual_seed(k)
    q = torch.randn(4, 6 * k, generator=g, dtype=torch.float64)
    keys = torch.randn(7, 6 * k, generator=g, dtype=torch.float64)
    got = shuffle_distance(q, keys, k, matching)
    assert got.shape == (4, 7)
    for b in range(4):
        for j in range(7):
            want = algorithm1(q[b].tolist(), keys[j].tolist(), k, matching)
            assert abs(got[b, j].item() - want) < 1e-5
    paired = paired_shuffle_distance(q, keys[:4], k, matching)
    for b in range(4):
        want = algorithm1(q[b].tolist(), keys[b].tolist(), k, matching)
        assert abs(paired[b].item() - want) < 1e-5


@pytest.mark.parametrize("matching", ["greedy", "optimal"])
def test_invariant_to_chunk_permutations(matching: str) -> None:
    g = torch.Generator().manual_seed(1)
    k, c = 3, 8
    q, keys = torch.randn(5, k * c, generator=g), torch.randn(9, k * c, generator=g)
    base = shuffle_distance(q, keys, k, matching)
    for perm in itertools.permutations(range(k)):
        p = torch.tensor(perm)
        q_perm = q.view(5, k, c)[:, p].reshape(5, k * c)
        k_perm = keys.view(9, k, c)[:, p].reshape(9, k * c)
        torch.testing.assert_close(shuffle_distance(q_perm, keys, k, matching), base)
        torch.testing.assert_close(shuffle_distance(q, k_perm, k, matching), base)


def test_one_chunk_is_monotone_in_cosine() -> None:
    g = torch.Generator().manual_seed(2)
    q, keys = torch.randn(3, 16, generator=g), torch.randn(50, 16, generator=g)
    cos = similarity_logits(q, keys, "cosine", tau=1.0)
    shuf = similarity_logits(q, keys, "shuffle", chunks=1, tau=1.0)
    torch.testing.assert_close(shuf, -torch.sqrt(2 - 2 * cos), atol=1e-5, rtol=0)
    # same ranking of keys for every query
    assert torch.equal(cos.argsort(dim=1), shuf.argsort(dim=1))


def test_optimal_never_worse_than_greedy() -> None:
    g = torch.Generator().manual_seed(3)
    for k in (2, 3, 4, 5):
        q, keys = torch.randn(8, 4 * k, generator=g), torch.randn(200, 4 * k, generator=g)
        greedy = shuffle_distance(q, keys, k, "greedy")
        optimal = shuffle_distance(q, keys, k, "optimal")
        assert (optimal <= greedy + 1e-5).all()
    # the two differ somewhere: greedy is not optimal in general
    assert (optimal < greedy - 1e-4).any()


@pytest.mark.parametrize("kind", ["shuffle", "cosine"])
@pytest.mark.parametrize("matching", ["greedy", "optimal"])
def test_gradients_reach_both_inputs(kind: str, matching: str) -> None:
    g = torch.Generator().manual_seed(4)
    q = torch.randn(4, 12, generator=g, requires_grad=True)
    keys = torch.randn(6, 12, generator=g, requires_grad=True)
    pos_keys = torch.randn(4, 12, generator=g, requires_grad=True)
    loss = similarity_logits(q, keys, kind, 3, matching).sum()
    loss = loss + positive_logits(q, pos_keys, kind, 3, matching).sum()
    loss.backward()
    for t in (q, keys, pos_keys):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_identical_inputs_give_finite_gradients() -> None:
    q = torch.randn(2, 9, requires_grad=True)
    d = paired_shuffle_distance(q, q.detach().clone(), 3)
    d.sum().backward()
    assert d.abs().max() < 1e-3 and torch.isfinite(q.grad).all()


def test_batch_against_large_queue() -> None:
    q = torch.randn(16, 129)
    queue = torch.randn(16384, 129)
    logits = similarity_logits(q, queue, "shuffle", chunks=3, matching="greedy", tau=0.07)
    assert logits.shape == (16, 16384) and torch.isfinite(logits).all()
    assert (logits <= 0).all() and (logits >= -2 / 0.07 - 1e-3).all()


@pytest.mark.parametrize("matching", ["greedy", "optimal"])
def test_non_finite_features_give_non_finite_distances(matching: str) -> None:
    q = torch.randn(3, 12)
    q[1, 5] = float("nan")
    d = shuffle_distance(q, torch.randn(7, 12), 3, matching)
    assert torch.isnan(d[1]).all() and torch.isfinite(d[[0, 2]]).all()


def test_rejects_indivisible_feature() -> None:
    with pytest.raises(ValueError, match="divisible"):
        shuffle_distance(torch.randn(2, 10), torch.randn(3, 10), 3)
