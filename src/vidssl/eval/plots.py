"""The paper's pictures, as PNG files: t-SNE of features (Fig. 4), a retrieval grid (Fig. 5),
training curves from the CSV logs, and bar charts of pretext metrics.

matplotlib runs on the Agg backend (no display needed on a cluster node); every function takes
the data it draws and an output path, and returns the path, so the demo and the commands can
share them without going through files they did not write.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def tsne_embedding(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of ``(N, D)`` features (standardised first, PCA-initialised, fixed seed).

    Perplexity is capped below N / 3 so small sets (the synthetic demo) still embed."""
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))
    n = len(x)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 items; got {n}")
    perp = float(min(perplexity, max(1.0, (n - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(x)


def plot_tsne(
    features: np.ndarray,
    labels: np.ndarray,
    path: str | Path,
    classes: Sequence[str] = (),
    title: str = "t-SNE of video features",
    seed: int = 0,
) -> Path:
    """Fig. 4: one dot per item, coloured by class, legend with class names when they fit."""
    emb = tsne_embedding(features, seed=seed)
    labels = np.asarray(labels)
    uniq = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(uniq) <= 10 else "tab20" if len(uniq) <= 20 else "turbo")
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for j, c in enumerate(uniq):
        m = labels == c
        name = classes[c] if 0 <= c < len(classes) else str(c)
        color = cmap(j % cmap.N) if len(uniq) <= 20 else cmap(j / max(1, len(uniq) - 1))
        ax.scatter(emb[m, 0], emb[m, 1], s=12, color=color, label=name, alpha=0.85)
    if len(uniq) <= 20:
        ax.legend(fontsize=7, markerscale=1.5, loc="best", frameon=False)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)


def plot_retrieval_grid(
    query_frames: Sequence[np.ndarray],
    neighbour_frames: Sequence[Sequence[np.ndarray]],
    hits: np.ndarray,
    path: str | Path,
    query_titles: Sequence[str] = (),
    neighbour_titles: Sequence[Sequence[str]] = (),
) -> Path:
    """Fig. 5: one row per query, the query frame then its nearest train items, each framed
    green when of the query's class (a hit) and red otherwise."""
    rows = len(query_frames)
    cols = 1 + max((len(r) for r in neighbour_frames), default=0)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.0 * rows), squeeze=False)
    for r in range(rows):
        ax = axes[r][0]
        ax.imshow(query_frames[r])
        ax.set_title(query_titles[r] if r < len(query_titles) else "query", fontsize=7)
        for j in range(1, cols):
            ax = axes[r][j]
            if j - 1 >= len(neighbour_frames[r]):
                ax.axis("off")
                continue
            ax.imshow(neighbour_frames[r][j - 1])
            color = "#1a9e2a" if bool(hits[r][j - 1]) else "#d62728"
            for side in ax.spines.values():
                side.set_edgecolor(color)
                side.set_linewidth(4)
            titles = neighbour_titles[r] if r < len(neighbour_titles) else ()
            ax.set_title(titles[j - 1] if j - 1 < len(titles) else f"top-{j}", fontsize=7,
                         color=color)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return _save(fig, path)


def read_csv_log(path: str | Path) -> dict[str, np.ndarray]:
    """Numeric columns of a CSV log (``MetricsLogger``) as float arrays (blank cells -> NaN)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols: dict[str, np.ndarray] = {}
    for key in rows[0].keys() if rows else ():
        vals = []
        for row in rows:
            try:
                vals.append(float(row.get(key) or "nan"))
            except ValueError:
                break
        else:
            cols[key] = np.asarray(vals, dtype=np.float64)
    return cols


def plot_curves(
    logs: Mapping[str, str | Path],
    path: str | Path,
    columns: Sequence[str] = (),
    x: str = "epoch",
) -> Path:
    """Training curves: one panel per metric, one line per run (``{run label: csv path}``).

    ``columns`` picks metrics (default: every numeric column but ``x``, ``step`` and timing)."""
    data = {label: read_csv_log(p) for label, p in logs.items()}
    if not columns:
        seen: list[str] = []
        for cols in data.values():
            seen += [c for c in cols if c not in seen and c not in (x, "step", "seconds", "time")]
        # a held-out column (val_<metric>) is drawn in its training metric's panel
        columns = [c for c in seen if not (c.startswith("val_") and c[4:] in seen)]
    if not columns:
        raise ValueError(f"no numeric columns to plot in {', '.join(map(str, logs.values()))}")
    n = len(columns)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for i, col in enumerate(columns):
        ax = axes[i // ncols][i % ncols]
        for label, cols in data.items():
            for name, style, suffix in ((col, "-", ""), (f"val_{col}", "--", " (held-out)")):
                if name not in cols or (suffix and name == col):
                    continue
                ys = cols[name]
                xs = cols.get(x, np.arange(1, len(ys) + 1))
                ok = np.isfinite(ys)  # held-out rows exist only every eval_every epochs
                if not ok.any():
                    continue
                few = ok.sum() < 30
                ax.plot(xs[ok], ys[ok], style, label=f"{label}{suffix}",
                        marker="." if few else None)
        ax.set_title(col, fontsize=9)
        ax.set_xlabel(x, fontsize=8)
        ax.grid(alpha=0.3)
        if len(ax.get_lines()) > 1:
            ax.legend(fontsize=7, frameon=False)
    for j in range(n, nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    fig.tight_layout()
    return _save(fig, path)


def plot_bars(
    values: Mapping[str, Mapping[str, float]],
    path: str | Path,
    title: str = "",
    metrics: Sequence[str] = (),
    errors: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Grouped bars: ``{run: {metric: value}}`` -> one panel per metric, one bar per run (the
    pretext-metric figures of Tables III, IV, VII: order accuracy, rate error, contrastive loss).
    ``errors`` (same shape, optional): half-widths drawn as error bars (e.g. 95% intervals).
    """
    runs = list(values)
    if not metrics:
        metrics = []
        for r in runs:
            metrics += [m for m in values[r] if m not in metrics]
    if not runs or not metrics:
        raise ValueError("plot_bars needs at least one run and one metric")
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(3.2, 0.7 * len(runs) + 1.5)
                                                       * len(metrics), 3.4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for i, m in enumerate(metrics):
        ax = axes[0][i]
        ys = [float(values[r].get(m, float("nan"))) for r in runs]
        err = [float((errors or {}).get(r, {}).get(m, 0.0)) for r in runs]
        bars = ax.bar(range(len(runs)), ys, color=[cmap(j % 10) for j in range(len(runs))],
                      yerr=err if any(err) else None, capsize=3)
        # With error bars the value goes inside the bar, where the bar's whisker is not.
        ax.bar_label(bars, fmt="%.3g", fontsize=7, label_type="center" if any(err) else "edge")
        ax.set_xticks(range(len(runs)), runs, rotation=30, ha="right", fontsize=8)
        ax.set_title(m, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def thumbnail(video: object, frame: int | None = None) -> np.ndarray:
    """One RGB frame of a ``Video`` (the middle one by default), for the retrieval grid."""
    from vidssl.data.video import ShortVideoError

    for _ in range(2):  # a header that overstates the length: num_frames is corrected, retry
        n = int(video.num_frames)  # type: ignore[attr-defined]
        idx = n // 2 if frame is None else min(max(0, frame), n - 1)
        try:
            return video.frames([idx])[0]  # type: ignore[attr-defined]
        except ShortVideoError:
            continue
    return video.frames([int(video.num_frames) - 1])[0]  # type: ignore[attr-defined]
