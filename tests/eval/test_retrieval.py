"""Retrieval top-k: identical to a brute-force reference, chunking-invariant, and a query whose
class is absent from the gallery is a miss rather than an error."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from vidssl.eval.features import FeatureSet
from vidssl.eval.retrieval import knn_search, retrieval_from_features, retrieval_scores

TOPK = (1, 5, 10, 20, 50)


def brute_force(qx, qy, gx, gy, topk):
    """Reference: full cosine matrix, full argsort, hit = class among the first k."""
    qn = qx / np.linalg.norm(qx, axis=1, keepdims=True)
    gn = gx / np.linalg.norm(gx, axis=1, keepdims=True)
    order = np.argsort(-(qn @ gn.T), axis=1, kind="stable")
    labels = gy[order]
    return {k: (labels[:, :k] == qy[:, None]).any(axis=1) for k in topk}


def random_set(rng, videos, clips, dim, classes, label_offset=0):
    return FeatureSet(
        features=rng.standard_normal((videos, clips, dim)).astype(np.float32),
        labels=rng.integers(0, classes, videos) + label_offset,
        paths=[f"v{i}" for i in range(videos)],
    )


@pytest.mark.parametrize("level", ["video", "clip"])
def test_topk_matches_brute_force(level):
    rng = np.random.default_rng(0)
    train = random_set(rng, 60, 4, 16, 7)
    test = random_set(rng, 25, 4, 16, 7)
    res = retrieval_from_features(train, test, level=level, topk=TOPK, chunk_size=7)
    if level == "video":
        qx, qy, gx, gy = test.video_level(), test.labels, train.video_level(), train.labels
    else:
        qx, qy, _ = test.clip_level()
        gx, gy, _ = train.clip_level()
    ref = brute_force(qx, qy, gx, gy, TOPK)
    for k in TOPK:
        assert res[f"top{k}"] == pytest.approx(ref[k].mean())
    # Identical neighbour lists, not just identical rates.
    qn = qx / np.linalg.norm(qx, axis=1, keepdims=True)
    gn = gx / np.linalg.norm(gx, axis=1, keepdims=True)
    ref_idx = np.argsort(-(qn @ gn.T), axis=1, kind="stable")[:, : max(TOPK)]
    np.testing.assert_array_equal(res["neighbours"].numpy(), ref_idx)
    assert res["num_queries"] == len(qy) and res["num_gallery"] == len(gy)


def test_chunked_equals_unchunked():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((103, 12)).astype(np.float32)
    g = rng.standard_normal((211, 12)).astype(np.float32)
    s_full, i_full = knn_search(q, g, 20, chunk_size=10_000)
    for chunk in (1, 5, 19, 64):
        s, i = knn_search(q, g, 20, chunk_size=chunk)
        torch.testing.assert_close(s, s_full)
        assert torch.equal(i, i_full)


def tied_features(seed: int = 2):
    """Queries and a gallery full of exact ties: duplicated gallery rows (some far apart, so
    they land in different blocks), rows that are positive multiples of others (equal
    cosine), zero rows (cosine 0 with everything) and features on a coarse grid."""
    rng = np.random.default_rng(seed)
    base = rng.integers(-2, 3, (40, 6)).astype(np.float32)
    g = base[rng.integers(0, 40, 300)]
    g[::7] *= 3.0
    g[5::11] = 0.0
    q = np.concatenate([base[rng.integers(0, 40, 50)],
                        rng.integers(-2, 3, (30, 6)).astype(np.float32)])
    return q, g


def reference_ranks(q, g, k):
    """A full stable sort of float64 cosines rounded to float32: ties by the lower index."""
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    gn = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    sims = (qn.astype(np.float64) @ gn.astype(np.float64).T).astype(np.float32)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("k", [1, 10, 50])
def test_ties_go_to_the_lower_index_for_every_chunk_size(k):
    q, g = tied_features()
    ref = reference_ranks(q, g, k)
    results = [knn_search(q, g, k, chunk_size=c) for c in (7, 37, 4096)]
    for s, i in results:
        np.testing.assert_array_equal(i.numpy(), ref)
        assert torch.equal(s, results[0][0])


def test_retrieval_scores_with_ties_are_chunk_invariant():
    q, g = tied_features(3)
    qy, gy = np.arange(len(q)) % 5, np.arange(len(g)) % 5
    runs = [retrieval_scores(q, qy, g, gy, TOPK, chunk_size=c) for c in (7, 37, 4096)]
    for acc, idx in runs[1:]:
        assert acc == runs[0][0] and torch.equal(idx, runs[0][1])


def test_faiss_backend_gives_the_exact_ranks():
    pytest.importorskip("faiss")
    q, g = tied_features(4)
    for k in (1, 10, 50):
        s, i = knn_search(q, g, k, backend="faiss", chunk_size=37)
        s_ref, i_ref = knn_search(q, g, k, chunk_size=37)
        assert torch.equal(i, i_ref) and torch.equal(s, s_ref)
    rng = np.random.default_rng(5)
    q, g = rng.standard_normal((40, 16)), rng.standard_normal((500, 16))
    assert torch.equal(knn_search(q, g, 5, backend="faiss")[1], knn_search(q, g, 5)[1])


def test_faiss_backend_without_faiss_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss raises ImportError
    q = np.ones((2, 3), np.float32)
    with pytest.raises(ImportError, match=r"pip install 'vidssl\[faiss\]'"):
        knn_search(q, q, 1, backend="faiss")


def test_non_finite_features_are_a_clear_error():
    q = np.ones((2, 3), np.float32)
    g = np.ones((4, 3), np.float32)
    g[1, 2] = np.nan
    with pytest.raises(ValueError, match="gallery features contain NaN"):
        knn_search(q, g, 2)


def test_query_class_without_gallery_items_is_a_miss():
    rng = np.random.default_rng(2)
    gx = rng.standard_normal((30, 8)).astype(np.float32)
    gy = rng.integers(0, 3, 30)
    qx = gx[:5].copy()  # identical to gallery items, so nearest neighbours are exact
    qy = np.array([0, 1, 2, 9, 9])  # class 9 has no gallery item
    qy[:3] = gy[:3]
    acc, _ = retrieval_scores(qx, qy, gx, gy, topk=(1, 50))
    assert acc[1] == pytest.approx(3 / 5)
    assert acc[50] == pytest.approx(3 / 5)  # k beyond the gallery size is allowed


def test_perfectly_separated_features_score_one():
    # Each class lives on its own axis: every query's nearest neighbour is its own class.
    rng = np.random.default_rng(3)
    y_train, y_test = np.repeat(np.arange(4), 5), np.repeat(np.arange(4), 3)
    eye = np.eye(4, dtype=np.float32)
    train = FeatureSet(eye[y_train][:, None] + 0.01 * rng.random((20, 2, 4)), y_train,
                       [str(i) for i in range(20)])
    test = FeatureSet(eye[y_test][:, None] + 0.01 * rng.random((12, 2, 4)), y_test,
                      [str(i) for i in range(12)])
    res = retrieval_from_features(train, test, topk=(1, 5))
    assert res["top1"] == 1.0 and res["top5"] == 1.0
