"""Results JSON and a short markdown report next to it, written by every evaluation command.

Why both: the JSON is what scripts and ``vidssl compare`` read; the markdown is what a person
opens, with the headline numbers first, the pictures inline, and the full config at the end so
the numbers can be reproduced. Both are written atomically (temp file + rename).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vidssl.config import Config


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "tolist"):  # torch tensors
        return obj.tolist()
    return obj


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON (numpy / torch values converted, NaN written as null)."""
    path = Path(path)
    _atomic_write(path, json.dumps(_jsonable(obj), indent=2) + "\n")
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
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
) -> Path:
    """Write ``<out_dir>/<name>.json`` (results) and ``<out_dir>/<name>.md``; return the .md.

    ``headline`` keys are shown first as a table; every other scalar result follows. Images
    are linked by paths relative to ``out_dir`` so the folder can be moved as a whole.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{name}.json", results)
    lines = [f"# {title}", ""]
    head = [k for k in headline if k in results]
    if head:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(_fmt(results[k]) for k in head) + " |", ""]
    rest = [(k, v) for k, v in results.items() if k not in head and not isinstance(v, dict)]
    if rest:
        lines += ["| result | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in rest]
        lines.append("")
    skipped = [v for k, v in results.items() if k.startswith("skipped") and v]
    for group in skipped:
        lines += ["Videos that could not be decoded and were left out:", ""]
        lines += [f"- `{p}`" for p in group[:50]]
        if len(group) > 50:
            lines.append(f"- ... and {len(group) - 50} more (see {name}.json)")
        lines.append("")
    for caption, path in images:
        rel = os.path.relpath(Path(path), out)
        lines += [f"## {caption}", "", f"![{caption}]({rel})", ""]
    lines += [f"- {n}" for n in notes]
    if notes:
        lines.append("")
    lines += [f"Raw results: [{name}.json]({name}.json)", ""]
    if config is not None:
        lines += ["## Config", "", "```yaml",
                  yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip(), "```", ""]
    path = out / f"{name}.md"
    _atomic_write(path, "\n".join(lines))
    return path
