"""Results JSON and a short markdown report next to it, written by every evaluation command.

Why both: the JSON is what scripts and ``vidssl compare`` read; the markdown is what a person
opens, with the headline numbers first, the pictures inline, and the full config at the end so
the numbers can be reproduced. Both are written atomically (:mod:`vidssl.files`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from vidssl.config import Config
from vidssl.files import atomic_write, write_json

# Result keys whose values are fractions that a reader expects as percentages (top1, accuracy,
# train_acc, chance ...): printed as "56.0 %". Everything else keeps its own unit.
_PERCENT = re.compile(r"(^|_)(top\d+|acc|accuracy|chance)$")


def format_seconds(seconds: float) -> str:
    """``510.4`` -> ``"8 min 30 s"``; ``42.2`` -> ``"42 s"``; ``4000`` -> ``"1 h 6 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60} min"


def format_value(key: str, v: Any) -> str:
    """One result as a person reads it: durations in minutes and seconds, accuracies as
    percentages with one decimal, other numbers with four significant digits, lists of skipped
    videos as a count (the report lists them after the table)."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, (int, float)) and key.endswith("seconds"):
        return format_seconds(float(v))
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if _PERCENT.search(key):
            return f"{100 * v:.1f} %"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and key.startswith("skipped"):
        return f"{len(v)} (listed below)" if v else "0"
    if isinstance(v, (list, tuple)) and len(v) > 8:
        return f"{len(v)} items"
    return str(v)


def write_report(
    out_dir: str | Path,
    name: str,
    title: str,
    results: dict[str, Any],
    *,
    images: Sequence[tuple[str, str | Path]] = (),
    config: Config | None = None,
    headline: Sequence[str] = (),
    notes: Sequence[str] = (),
    summary: str = "",
) -> Path:
    """Write ``<out_dir>/<name>.json`` (results) and ``<out_dir>/<name>.md``; return the .md.

    The report reads first what matters: right under the title ``summary`` (a markdown block,
    e.g. the demo's results table) or else the ``headline`` keys as a table; then the other
    scalar results (durations in minutes, accuracies in percent), the notes, the pictures, and
    the config last. Images are linked by paths relative to ``out_dir`` so the folder can be
    moved as a whole.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{name}.json", results)
    lines = [f"# {title}", ""]
    if summary:
        lines += [summary.strip("\n"), ""]
    head = [k for k in headline if k in results]
    if head:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(format_value(k, results[k]) for k in head) + " |", ""]
    rest = [(k, v) for k, v in results.items() if k not in head and not isinstance(v, dict)]
    if rest:
        lines += ["| result | value |", "|---|---|"]
        lines += [f"| {k} | {format_value(k, v)} |" for k, v in rest]
        lines.append("")
    skipped = [v for k, v in results.items() if k.startswith("skipped") and v]
    for group in skipped:
        lines += ["Videos that could not be decoded and were left out:", ""]
        lines += [f"- `{p}`" for p in group[:50]]
        if len(group) > 50:
            lines.append(f"- ... and {len(group) - 50} more (see {name}.json)")
        lines.append("")
    lines += [f"- {n}" for n in notes]
    if notes:
        lines.append("")
    for caption, path in images:
        rel = os.path.relpath(Path(path), out)
        lines += [f"## {caption}", "", f"![{caption}]({rel})", ""]
    lines += [f"Raw results: [{name}.json]({name}.json)", ""]
    if config is not None:
        lines += ["## Config", "", "```yaml",
                  yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip(), "```", ""]
    path = out / f"{name}.md"
    atomic_write(path, "\n".join(lines))
    return path
