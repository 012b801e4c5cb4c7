"""Nearest-neighbour video retrieval (DESIGN section 7, the VCOP protocol).

Test items query train items by cosine similarity; top-k is a hit when a train item of the
query's class is among the k nearest. The search is the memory-critical part: at UCF101 clip
level the full similarity matrix is 38k x 95k floats (14 GB), so :func:`knn_search` walks it in
blocks of ``chunk_size`` queries x ``chunk_size`` gallery items, keeps a running top-k per
query, and never holds more than one block plus the (queries x k) winners. faiss is used when
asked for and installed (``backend="faiss"``); the result is the same up to float round-off.

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
from vidssl.eval.features import FeatureSet, extract_features, resolve_device

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
    the CPU. Peak extra memory is one ``chunk_size x chunk_size`` block (plus the inputs and the
    normalised copies), whatever the number of queries and gallery items.
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"retrieval backend must be one of {', '.join(BACKENDS)}; got {backend}"
        )
    q = l2_normalize(_as_tensor(queries))
    g = l2_normalize(_as_tensor(gallery))
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"queries {tuple(q.shape)} and gallery {tuple(g.shape)} must be (N, D)")
    k = min(int(k), g.shape[0])
    if k < 1 or q.shape[0] == 0:
        empty = torch.empty(q.shape[0], max(k, 0))
        return empty, empty.long()
    if backend == "faiss":
        return _faiss_search(q, g, k)
    chunk = max(1, int(chunk_size))
    dev = torch.device(device)
    g_dev = g.to(dev)
    out_s = torch.empty(q.shape[0], k)
    out_i = torch.empty(q.shape[0], k, dtype=torch.long)
    for q0 in range(0, q.shape[0], chunk):
        qc = q[q0 : q0 + chunk].to(dev)
        best_s: torch.Tensor | None = None
        best_i: torch.Tensor | None = None
        for g0 in range(0, g_dev.shape[0], chunk):
            sims = qc @ g_dev[g0 : g0 + chunk].T
            s, i = torch.topk(sims, min(k, sims.shape[1]), dim=1)
            i = i + g0
            del sims
            if best_s is None:
                best_s, best_i = s, i
            else:
                # Merge the running winners with this block's: top-k of the union.
                s = torch.cat([best_s, s], dim=1)
                i = torch.cat([best_i, i], dim=1)
                s, pos = torch.topk(s, min(k, s.shape[1]), dim=1)
                best_s, best_i = s, torch.gather(i, 1, pos)
        assert best_s is not None and best_i is not None
        out_s[q0 : q0 + chunk] = best_s.cpu()
        out_i[q0 : q0 + chunk] = best_i.cpu()
    return out_s, out_i


def _faiss_search(q: torch.Tensor, g: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RuntimeError(
            "retrieval backend 'faiss' needs faiss: pip install 'vidssl[faiss]' "
            "(or use the default torch backend)"
        ) from exc
    index = faiss.IndexFlatIP(g.shape[1])
    index.add(np.ascontiguousarray(g.numpy(), dtype=np.float32))
    s, i = index.search(np.ascontiguousarray(q.numpy(), dtype=np.float32), k)
    return torch.from_numpy(s), torch.from_numpy(i.astype(np.int64))


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


def conv5_to_vector(fmap: torch.Tensor) -> torch.Tensor:
    """VCOP's conv5 retrieval feature: max-pool (1, 2, 2) over the conv5 map, then flatten.

    A map smaller than 2 pixels on a side (tiny CPU inputs) is pooled with what it has."""
    kh = min(2, fmap.shape[-2])
    kw = min(2, fmap.shape[-1])
    pooled = torch.nn.functional.max_pool3d(fmap, kernel_size=(1, kh, kw), stride=(1, kh, kw))
    return pooled.flatten(1)


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


def features_for_split(
    backbone: nn.Module | None, cfg: Config, split: str, given: FeatureSet | None, source: Any,
    feature: str, device: Any, progress: bool,
) -> tuple[FeatureSet, Any]:
    from vidssl.data.datasets import build_source

    if given is not None:
        return given, source
    if backbone is None:
        raise ValueError("evaluate_retrieval needs a backbone or precomputed features")
    source = source if source is not None else build_source(cfg.data, split)
    feats = extract_features(backbone, source, cfg, feature=feature, device=device,
                             progress=progress, desc=f"{split} features")
    return feats, source


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
        from vidssl.data.datasets import build_source

        train_source = train_source if train_source is not None else build_source(cfg.data,
                                                                                  "train")
        test_source = test_source if test_source is not None else build_source(cfg.data, "test")
        from vidssl.data.video import VideoError

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
    from vidssl.eval.plots import plot_retrieval_grid, thumbnail

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
        return thumbnail(source.open(int(fs.source_index[row])))

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
    return plot_retrieval_grid(q_frames, n_frames, np.array(hits, dtype=bool), path,
                               q_titles, n_titles)
