"""Nearest-neighbour video retrieval (DESIGN section 7, the VCOP protocol).

Test items query train items by cosine similarity; top-k is a hit when a train item of the
query's class is among the k nearest. The search is the memory-critical part: at UCF101 clip
level the full similarity matrix is 38k x 95k floats (14 GB), so :func:`knn_search` walks it in
blocks of ``chunk_size`` queries x ``chunk_size`` gallery items, keeps a running top-k per
query, and never holds more than one block plus the (queries x k) winners. faiss is used when
asked for and installed (``backend="faiss"``).

The neighbours are deterministic: the same for every ``chunk_size`` and backend. Equal scores
are ordered by the lower gallery index (as a stable sort of each query's scores would order
them; on tie-free data this is VCOP's protocol exactly). Scores are computed in float64 and
rounded to float32: a float32 matrix product rounds a pair's score differently with the shape
of the block it is computed in, which turned near-ties into order changes between chunk sizes
and made duplicate gallery items tie in one run and not in another; the rounded float64 value
does not depend on how it was computed. This costs about twice the float32 product on a CPU
(``benchmarks/retrieval.py``). Each block keeps its top-k with ties at the k-th place going to
the lower index, and blocks are merged with a stable sort, lower indices first.

faiss (``backend="faiss"``, float32) proposes each query's ``2k + 16`` best items; these are
rescored as above and ordered the same way. A query whose k-th score is not clear of its
lowest candidate's by float32's error bound (many ties, as with duplicated or zero features)
could have tied items outside the list, and is searched again exactly.

A query whose class has no item in the gallery is simply a miss at every k, so a test split with
classes absent from the train split is scored, not rejected.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidssl.config import Config
from vidssl.data.layouts import build_source
from vidssl.data.video import VideoError
from vidssl.devices import resolve_device
from vidssl.errors import MissingExtraError
from vidssl.eval import plots
from vidssl.eval.features import FeatureSet, features_for_split

BACKENDS = ("torch", "faiss")


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t.float() if t.dtype != torch.float32 else t


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-normalise so that a dot product is the cosine similarity (zero rows stay zero)."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(eps)


def knn_search(
    queries: np.ndarray | torch.Tensor,
    gallery: np.ndarray | torch.Tensor,
    k: int,
    chunk_size: int = 4096,
    backend: str = "torch",
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` gallery items by cosine similarity for every query.

    Returns ``(scores, indices)``, each ``(num_queries, min(k, num_gallery))``, best first, on
    the CPU; equal scores in ascending gallery index, and the same result for every
    ``chunk_size`` and ``backend`` (module docstring). Peak extra memory is about one
    ``chunk_size x chunk_size`` block of float32 scores and its masks, plus the inputs and
    their normalised float64 copies, whatever the number of queries and gallery items.
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"retrieval backend must be one of {', '.join(BACKENDS)}; got {backend}"
        )
    q = l2_normalize(_as_tensor(queries))
    g = l2_normalize(_as_tensor(gallery))
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"queries {tuple(q.shape)} and gallery {tuple(g.shape)} must be (N, D)")
    for name, x in (("query", q), ("gallery", g)):
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"retrieval: the {name} features contain NaN or inf")
    k = min(int(k), g.shape[0])
    if k < 1 or q.shape[0] == 0:
        empty = torch.empty(q.shape[0], max(k, 0))
        return empty, empty.long()
    chunk = max(1, int(chunk_size))
    dev = torch.device(device)
    if backend == "faiss":
        m = min(g.shape[0], 2 * k + 16)  # room for the ties and near-ties at place k
        approx, cand = _faiss_candidates(q, g, m)
        return _settle(q, g, k, cand, approx, chunk, dev)
    return _exact_search(q, g, k, chunk, dev)


SCORE_ROWS = 512  # float64 products are formed this many query rows at a time


def _scores(q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Cosine scores of normalised float64 rows, rounded to float32: the same value for a pair
    whatever the shapes of the blocks it was computed in (module docstring). Formed in slices
    of query rows, so the float64 intermediate stays small next to the float32 block."""
    out = torch.empty(q.shape[0], g.shape[0], device=q.device)
    for r0 in range(0, q.shape[0], SCORE_ROWS):
        out[r0 : r0 + SCORE_ROWS] = q[r0 : r0 + SCORE_ROWS] @ g.T
    return out


def _block_topk(sims: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's top-``k`` (scores, columns), best first, equal scores by the lower column.

    ``torch.topk`` picks arbitrarily among values tied at the k-th place; here everything above
    the k-th value is kept, then the lowest columns holding that value fill the rest.
    """
    rows, cols = sims.shape
    k = min(k, cols)
    if k < cols:
        top = torch.topk(sims, k + 1, dim=1).values  # one more: is the k-th value shared?
        kth = top[:, k - 1 : k]
        tied = sims == kth
        keep = (sims > kth) | tied
        crowded = torch.nonzero(top[:, k] == kth[:, 0]).flatten()
        if crowded.numel():  # more items tied at the k-th value than places: lowest first
            room = (top[crowded, :k] == kth[crowded]).sum(dim=1, keepdim=True)
            t = tied[crowded]
            keep[crowded] &= ~t | (t.cumsum(dim=1, dtype=torch.int32) <= room)
        col = keep.nonzero()[:, 1].view(rows, k)  # row-major: ascending columns per row
    else:
        col = torch.arange(cols, device=sims.device).expand(rows, cols)
    vals = sims.gather(1, col)
    order = torch.sort(vals, dim=1, descending=True, stable=True).indices
    return vals.gather(1, order), col.gather(1, order)


def _merge(best: tuple[torch.Tensor, torch.Tensor] | None, s: torch.Tensor, i: torch.Tensor,
           k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of the running winners and a later block's (whose indices are all higher): a
    stable sort keeps the earlier, lower indices first among equal scores."""
    if best is None:
        return s, i
    s = torch.cat([best[0], s], dim=1)
    i = torch.cat([best[1], i], dim=1)
    order = torch.sort(s, dim=1, descending=True, stable=True).indices[:, :k]
    return s.gather(1, order), i.gather(1, order)


def _exact_search(q: torch.Tensor, g: torch.Tensor, k: int, chunk: int,
                  dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every score in float64 (rounded to float32), block by block, each block's top-k with
    ties for the lower index, blocks merged by a stable sort: the torch backend, and the
    fallback of :func:`_settle`."""
    g_dev = g.to(dev, torch.float64)
    out_s = torch.empty(q.shape[0], k)
    out_i = torch.empty(q.shape[0], k, dtype=torch.long)
    for q0 in range(0, q.shape[0], chunk):
        qc = q[q0 : q0 + chunk].to(dev, torch.float64)
        best = None
        for g0 in range(0, g_dev.shape[0], chunk):
            s, i = _block_topk(_scores(qc, g_dev[g0 : g0 + chunk]), k)
            best = _merge(best, s, i + g0, k)
        assert best is not None
        out_s[q0 : q0 + chunk] = best[0].cpu()
        out_i[q0 : q0 + chunk] = best[1].cpu()
    return out_s, out_i


def _import_faiss() -> Any:
    """The faiss module, or one line naming the extra that installs it."""
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError as exc:
        raise MissingExtraError(
            "retrieval backend 'faiss' needs faiss: pip install 'vidssl[faiss]' "
            "(or use the default torch backend)"
        ) from exc
    return faiss


def _faiss_candidates(q: torch.Tensor, g: torch.Tensor,
                      m: int) -> tuple[torch.Tensor, torch.Tensor]:
    faiss = _import_faiss()
    index = faiss.IndexFlatIP(g.shape[1])
    index.add(np.ascontiguousarray(g.numpy(), dtype=np.float32))
    s, i = index.search(np.ascontiguousarray(q.numpy(), dtype=np.float32), m)
    return torch.from_numpy(s), torch.from_numpy(i.astype(np.int64))


def _settle(q: torch.Tensor, g: torch.Tensor, k: int, cand: torch.Tensor,
            approx: torch.Tensor, chunk: int,
            dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact top-k from float32 candidates (``cand``, their float32 scores ``approx``,
    best first): the candidates are rescored as :func:`_exact_search` scores and ordered by
    (score, lower index). An item outside a query's list scores at most its lowest candidate's
    float32 score plus float32's error bound; where the k-th exact score does not clear that,
    an outside item could tie or beat it, and the query is searched exactly instead."""
    num, m = cand.shape
    cand = cand.sort(dim=1).values  # ascending index, so ties go to the lower one
    q64, g64 = q.double(), g.double()
    out_s = torch.empty(num, k)
    out_i = torch.empty(num, k, dtype=torch.long)
    step = max(1, chunk * chunk // (8 * m * g.shape[1]))  # gathered rows: ~1/4 of a block
    for q0 in range(0, num, step):
        c = cand[q0 : q0 + step]
        sims = torch.einsum("qd,qmd->qm", q64[q0 : q0 + step], g64[c]).float()
        s, col = _block_topk(sims, k)
        out_s[q0 : q0 + step], out_i[q0 : q0 + step] = s, c.gather(1, col)
    if m < g.shape[0]:
        # |float32 dot - exact| <= D * 2^-24 for unit vectors; twice that as the margin
        margin = max(1e-6, g.shape[1] * 2.0**-23)
        unsure = torch.nonzero(out_s[:, -1] <= approx[:, -1] + margin).flatten()
        if unsure.numel():
            s, i = _exact_search(q[unsure], g, k, chunk, dev)
            out_s[unsure], out_i[unsure] = s, i
    return out_s, out_i


def topk_hits(
    neighbour_labels: np.ndarray | torch.Tensor,
    query_labels: np.ndarray | torch.Tensor,
    topk: Sequence[int],
) -> dict[int, np.ndarray]:
    """Per-query hit flags: ``{k: bool (num_queries,)}``, a hit when any of the first k
    neighbours has the query's label. ``k`` beyond the gallery size uses all neighbours."""
    nl = torch.as_tensor(neighbour_labels)
    ql = torch.as_tensor(query_labels).reshape(-1, 1)
    match = nl == ql
    return {int(k): match[:, : int(k)].any(dim=1).numpy() for k in topk}


def retrieval_scores(
    query_feats: np.ndarray | torch.Tensor,
    query_labels: np.ndarray,
    gallery_feats: np.ndarray | torch.Tensor,
    gallery_labels: np.ndarray,
    topk: Sequence[int] = (1, 5, 10, 20, 50),
    chunk_size: int = 4096,
    backend: str = "torch",
    device: str | torch.device = "cpu",
) -> tuple[dict[int, float], torch.Tensor]:
    """Top-k accuracy ``{k: fraction of queries that hit}`` and the neighbour indices
    ``(num_queries, max k)`` (for the retrieval grid)."""
    if not len(topk):
        raise ValueError("topk must list at least one k")
    _, idx = knn_search(query_feats, gallery_feats, max(topk), chunk_size, backend, device)
    g_labels = torch.as_tensor(np.asarray(gallery_labels, dtype=np.int64))
    neighbour_labels = g_labels[idx] if idx.numel() else idx
    hits = topk_hits(neighbour_labels, np.asarray(query_labels, dtype=np.int64), topk)
    n = len(query_labels)
    acc = {k: (float(h.sum()) / n if n else 0.0) for k, h in hits.items()}
    return acc, idx


def retrieval_from_features(
    train: FeatureSet,
    test: FeatureSet,
    level: str = "video",
    topk: Sequence[int] = (1, 5, 10, 20, 50),
    chunk_size: int = 4096,
    backend: str = "torch",
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """The retrieval protocol on precomputed features: test items query train items.

    ``level="video"`` averages each video's clip features; ``"clip"`` keeps every clip as its
    own query / gallery item. Returns a JSON-ready dict with ``top{k}`` accuracies, the counts,
    and ``neighbours`` (query x max k gallery indices, as a tensor) for pictures.
    """
    if level == "video":
        qx, qy = test.video_level(), test.labels
        gx, gy = train.video_level(), train.labels
    elif level == "clip":
        qx, qy, _ = test.clip_level()
        gx, gy, _ = train.clip_level()
    else:
        raise ValueError(f"level must be 'video' or 'clip'; got {level}")
    acc, idx = retrieval_scores(qx, qy, gx, gy, topk, chunk_size, backend, device)
    missing = sorted(set(np.unique(qy).tolist()) - set(np.unique(gy).tolist()))
    return {
        "level": level,
        **{f"top{k}": v for k, v in acc.items()},
        "num_queries": int(len(qy)),
        "num_gallery": int(len(gy)),
        "query_classes_without_gallery_items": missing,
        "neighbours": idx,
    }


def evaluate_retrieval(
    backbone: nn.Module | None,
    cfg: Config,
    *,
    train_features: FeatureSet | None = None,
    test_features: FeatureSet | None = None,
    train_source: Any = None,
    test_source: Any = None,
    level: str | None = None,
    feature: str | None = None,
    backend: str = "torch",
    device: str | torch.device | None = None,
    grid: str | Path | None = None,
    grid_queries: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    """The retrieval protocol of DESIGN 7 for ``backbone`` (or on precomputed features).

    Features not passed in are extracted from ``build_source(cfg.data, "train"/"test")`` (or
    the given sources) with ``eval.*`` settings; ``level`` / ``feature`` default to
    ``eval.level`` / ``eval.feature``. With ``grid`` a PNG of the first queries of distinct
    classes and their top-3 is written (Fig. 5). Returns a JSON-ready dict.
    """
    if backend == "faiss":
        _import_faiss()  # a missing faiss is said before the features are extracted
    level = level or cfg.eval.level
    feature = feature or cfg.eval.feature
    dev = device if device is not None else resolve_device(cfg.train.device)
    train, train_source = features_for_split(backbone, cfg, "train", train_features, train_source,
                                        feature, dev, progress)
    test, test_source = features_for_split(backbone, cfg, "test", test_features, test_source,
                                      feature, dev, progress)
    res = retrieval_from_features(train, test, level=level, topk=cfg.eval.topk,
                                  chunk_size=cfg.eval.chunk_size, backend=backend,
                                  device=dev if backend == "torch" else "cpu")
    neighbours = res.pop("neighbours")
    res.update(
        feature=feature,
        feature_dim=train.dim,
        clips_per_video=int(test.features.shape[1]),
        num_train_videos=len(train),
        num_test_videos=len(test),
        skipped_train_videos=list(train.skipped),
        skipped_test_videos=list(test.skipped),
    )
    if grid is not None:
        train_source = train_source if train_source is not None else build_source(cfg.data,
                                                                                  "train")
        test_source = test_source if test_source is not None else build_source(cfg.data, "test")
        # a picture must never cost the results it illustrates: a video that cannot be read
        # for a thumbnail is a warning, and the results are written all the same
        try:
            res["grid"] = str(retrieval_grid(train, test, neighbours, level, train_source,
                                             test_source, grid, queries=grid_queries))
        except (VideoError, OSError) as exc:
            res["grid"], res["grid_error"] = "", str(exc)
            print(f"vidssl: warning: the retrieval grid was not drawn ({exc}); the results "
                  "are complete", file=sys.stderr)
    return res


def retrieval_grid(
    train: FeatureSet,
    test: FeatureSet,
    neighbours: torch.Tensor,
    level: str,
    train_source: Any,
    test_source: Any,
    path: str | Path,
    queries: int = 8,
    top: int = 3,
) -> Path:
    """Fig. 5: ``queries`` test videos of distinct classes (the first of each, in order) with
    their ``top`` nearest train items; at clip level a query is the video's middle clip."""
    clips = test.features.shape[1]
    chosen: list[int] = []
    seen: set[int] = set()
    for i, y in enumerate(test.labels.tolist()):
        if y not in seen:
            seen.add(y)
            chosen.append(i)
        if len(chosen) >= queries:
            break
    names = list(test.classes or train.classes)

    def name(y: int) -> str:
        return names[y] if 0 <= y < len(names) else str(y)

    def frame(source: Any, fs: FeatureSet, row: int) -> np.ndarray:
        assert fs.source_index is not None
        return plots.thumbnail(source.open(int(fs.source_index[row])))

    train_clips = train.features.shape[1]
    q_frames, n_frames, hits, q_titles, n_titles = [], [], [], [], []
    for row in chosen:
        q_item = row if level == "video" else row * clips + clips // 2
        nb = neighbours[q_item, :top].tolist()
        rows = nb if level == "video" else [j // train_clips for j in nb]
        y = int(test.labels[row])
        q_frames.append(frame(test_source, test, row))
        q_titles.append(f"query: {name(y)}")
        n_frames.append([frame(train_source, train, r) for r in rows])
        hits.append([int(train.labels[r]) == y for r in rows])
        n_titles.append([name(int(train.labels[r])) for r in rows])
    return plots.plot_retrieval_grid(q_frames, n_frames, np.array(hits, dtype=bool), path,
                               q_titles, n_titles)
