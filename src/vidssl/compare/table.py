"""A comparison's numbers as a reader sees them: columns, mean and 95% interval over seeds,
paired differences against the reference row, compare.md, compare.json and compare.png.

The columns are the evaluation protocols' own (:data:`vidssl.protocols.PROTOCOLS`), then the
row's cost; nothing here names a protocol.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidssl.compare.spec import PREVIOUS, CompareSpec
from vidssl.eval.plots import plot_bars
from vidssl.files import atomic_write, write_json
from vidssl.protocols import PROTOCOLS, Column

# --------------------------------------------------------------------------------------------
# The table and the chart
# --------------------------------------------------------------------------------------------

# A row's cost (not an evaluation: the same at every seed), after the protocols' columns.
COST_COLUMNS = (Column("GMACs/sample", "gmacs", 1, "{:.3g}"),
                Column("params (M)", "params_m", 1, "{:.3g}"),
                Column("pretrain min", "pretrain_minutes", 1, "{:.1f}"))


def columns() -> list[tuple[str, str, str, float, str]]:
    """``(title, evaluation, key, scale, format)`` of every column: each protocol's result
    columns (:data:`vidssl.protocols.PROTOCOLS`, in table order), then the cost (evaluation
    "")."""
    out = [(c.title, name, c.key, c.scale, c.fmt)
           for name, protocol in PROTOCOLS.items() for c in protocol.columns]
    return out + [(c.title, "", c.key, c.scale, c.fmt) for c in COST_COLUMNS]


def chart_columns() -> tuple[str, ...]:
    """The columns drawn in compare.png: the protocols' headline metrics."""
    return tuple(c.title for p in PROTOCOLS.values() for c in p.columns if c.chart)


def _cell(row: dict[str, Any], evaluation: str, key: str) -> float | None:
    src = row.get(evaluation) if evaluation else row
    if not isinstance(src, dict):
        return None
    v = src.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def table_values(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{row label: {column title: value}}`` for the columns some row has (scaled)."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        vals = {}
        for title, ev, key, scale, _ in columns():
            v = _cell(row, ev, key)
            if v is not None:
                vals[title] = v * scale
        out[row.get("label") or row["name"]] = vals
    return out


def markdown_table(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """Rows = methods, columns = the metrics any row has; "–" where a row has none."""
    values = table_values(rows)
    cols = [(t, f) for t, _, _, _, f in columns() if any(t in v for v in values.values())]
    lines = [f"## {title}", ""] if title else []
    lines.append("| method | " + " | ".join(t for t, _ in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for label, vals in values.items():
        cells = [f.format(vals[t]) if t in vals else "–" for t, f in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Seeds: mean and 95% interval per metric, paired differences against the reference row
# --------------------------------------------------------------------------------------------

# Table order: val (choose on it) before test (report it).
TABLE_SPLITS = ("val", "test")
LEVEL = 0.95


def split_result(result: dict[str, Any], split: str) -> dict[str, Any]:
    """One run's result as :func:`table_values` reads it, for ``split``: test results live at the
    top level (with the cost), val's under ``"val"``."""
    if split == "test":
        return result
    return {"name": result["name"], "label": result.get("label", ""), **result.get(split, {})}


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float | None]:
    """Mean and half-width of the t-interval ``mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)``
    (``sd`` with n-1 degrees of freedom); no interval (``None``) from one value."""
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if n < 2:
        return mean, None
    return mean, float(t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))


def interval(values: dict[str, float]) -> dict[str, Any]:
    """``{"values": {seed: value}, "n", "mean", "ci95"}`` (``ci95``: half-width or None)."""
    mean, half = mean_ci(list(values.values()))
    return {"values": dict(values), "n": len(values), "mean": mean, "ci95": half}


def _per_seed(row: dict[str, Any], split: str) -> dict[str, dict[str, float]]:
    """``{column title: {seed: scaled value}}`` of one row's runs on ``split``."""
    out: dict[str, dict[str, float]] = {}
    for seed, result in row["runs"].items():
        vals = next(iter(table_values([split_result(result, split)]).values()))
        for title, v in vals.items():
            out.setdefault(title, {})[seed] = v
    return out


def summarise(rows: Sequence[dict[str, Any]], split: str) -> dict[str, dict[str, Any]]:
    """``{row label: {column title: interval over seeds}}`` for ``split``."""
    return {_label(row): {title: interval(per) for title, per in _per_seed(row, split).items()}
            for row in rows}


def paired_differences(rows: Sequence[dict[str, Any]], reference: str,
                       split: str) -> dict[str, dict[str, Any]]:
    """Each row minus the ``reference`` row (by name; :data:`PREVIOUS`: minus the row above
    it), seed by seed: the same seed makes a pair (same videos, same seed for everything
    random), and the interval is the paired t-interval. ``above_zero`` / ``below_zero``: the
    whole interval lies on that side (never with one pair, which has no interval). Only
    evaluation metrics (not cost); only seeds both rows ran."""
    if reference == PREVIOUS:
        pairs = list(zip(rows[1:], rows[:-1]))
    else:
        ref = next((r for r in rows if r["name"] == reference), None)
        if ref is None:
            return {}
        pairs = [(row, ref) for row in rows if row is not ref]
    cost = {t for t, ev, *_ in columns() if not ev}
    per_seed = {id(r): _per_seed(r, split) for r in rows}  # once per row, not once per pair
    out: dict[str, dict[str, Any]] = {}
    for row, ref in pairs:
        base = per_seed[id(ref)]
        cols: dict[str, Any] = {}
        for title, per in per_seed[id(row)].items():
            seeds = [k for k in per if k in base.get(title, {})]
            if title in cost or not seeds:
                continue
            iv = interval({k: per[k] - base[title][k] for k in seeds})
            half = iv["ci95"]
            iv["above_zero"] = half is not None and iv["mean"] - half > 0
            iv["below_zero"] = half is not None and iv["mean"] + half < 0
            cols[title] = iv
        out[_label(row) if reference != PREVIOUS else f"{_label(row)} − {_label(ref)}"] = cols
    return out


def _label(row: dict[str, Any]) -> str:
    return row.get("label") or row["name"]


# Columns that are the same at every seed (the architecture's cost): no interval shown.
_FIXED = ("GMACs/sample", "params (M)")


def _fmt_interval(iv: dict[str, Any] | None, fmt: str, signed: bool = False) -> str:
    if iv is None:
        return "–"
    f = fmt.replace("{:", "{:+") if signed else fmt
    text = f.format(iv["mean"])
    if iv["ci95"] is not None:
        text += " ± " + fmt.format(iv["ci95"])
    if iv.get("above_zero"):
        text += " ↑"
    elif iv.get("below_zero"):
        text += " ↓"
    return text


def _interval_table(summary: dict[str, dict[str, Any]], signed: bool = False,
                    prefix: str = "") -> list[str]:
    cols = [(t, f) for t, _, _, _, f in columns() if any(t in v for v in summary.values())]
    lines = ["| method | " + " | ".join(prefix + t for t, _ in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for label, vals in summary.items():
        cells = [_fmt_interval(vals.get(t), f, signed) if t not in _FIXED
                 else _fmt_interval({**vals[t], "ci95": None}, f) if t in vals else "–"
                 for t, f in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def summary_markdown(spec: CompareSpec, rows: Sequence[dict[str, Any]]) -> str:
    """compare.md: per split (val first), the mean ± 95% interval table and the paired
    differences against the reference row, then what the numbers mean (tables first: the
    reader came for them)."""
    splits = [sp for sp in TABLE_SPLITS
              if sp == "test" or any(sp in run for r in rows for run in r["runs"].values())]
    seeds = sorted({k for r in rows for k in r["runs"]}, key=lambda k: (len(k), k))
    n_max = max((len(r["runs"]) for r in rows), default=0)
    ref = spec.reference_name()
    ref_label = ("the row above" if ref == PREVIOUS
                 else next((_label(r) for r in rows if r["name"] == ref), None))
    if ref_label is None:
        ref_label = f"{ref} (not run yet: no differences)"
    lines = [f"## {spec.name}"]
    intro: list[str] = []  # what the cells mean: after the tables, which come first
    if n_max >= 2:
        intro.append(f"Mean ± half-width of the {LEVEL:.0%} t-interval over training seeds "
                     f"({', '.join(seeds)}; every seed sees the same videos). Δ: the row minus "
                     f"{ref_label}, seed by seed (paired t-interval); ↑ / ↓: the whole interval "
                     "lies above / below zero.")
    else:
        intro.append("One seed per row: values without intervals (list `seeds: [0, 1, 2]` in "
                     f"the compare file, or --seeds 0,1,2, for intervals). Δ: the row minus "
                     f"{ref_label}.")
    for sp in splits:
        title = {"val": "Validation split: choose hyperparameters on these",
                 "test": "Test split: report these; never choose on them"}[sp]
        if len(splits) == 1:
            title = "Test split (this data set has no val split to choose on)"
        lines += ["", f"### {title}", ""]
        lines += _interval_table(summarise(rows, sp))
        diffs = paired_differences(rows, ref, sp)
        if any(diffs.values()):
            lines += ["", f"Paired difference against {ref_label} ({sp}):", ""]
            lines += _interval_table(diffs, signed=True, prefix="Δ ")
    lines += [
        "", *intro, "",
        "Accuracies in percent. Pretext metrics on held-out clips of the split; retrieval: the "
        "split's videos query the train videos; probe: logistic regression fitted on frozen "
        "train-video features, scored on the split; fine-tune: 10-clip video top-1 (test only). "
        "Rate MSE and contr. loss: lower is better. GMACs/sample: forward multiply-accumulates "
        "of every network one training sample passes through (Table VIII).",
        "",
    ]
    return "\n".join(lines)


def write_outputs(spec: CompareSpec, rows: Sequence[dict[str, Any]]) -> dict[str, Path]:
    """``compare.md``, ``compare.json`` and (when there is something to draw) ``compare.png``.

    ``rows``: ``{"name", "label", "runs": {seed: result}}`` per row (see :func:`run_compare`).
    """

    out = spec.out_dir
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "compare.md", "json": out / "compare.json"}
    atomic_write(paths["md"], summary_markdown(spec, rows))
    ref = spec.reference_name()
    write_json(paths["json"], {
        "name": spec.name, "evaluations": spec.evaluations, "seeds": spec.seeds,
        "reference": ref, "level": LEVEL, "methods": list(rows),
        "summary": {sp: summarise(rows, sp) for sp in TABLE_SPLITS},
        "differences": {sp: paired_differences(rows, ref, sp) for sp in TABLE_SPLITS},
    })
    summary = summarise(rows, "test")
    chart = [c for c in chart_columns() if any(c in v for v in summary.values())]
    if chart:
        paths["png"] = plot_bars(
            {k: {c: v[c]["mean"] for c in chart if c in v} for k, v in summary.items()},
            out / "compare.png", title=f"{spec.name} (test)", metrics=chart,
            errors={k: {c: v[c]["ci95"] for c in chart if c in v and v[c]["ci95"] is not None}
                    for k, v in summary.items()})
    return paths
