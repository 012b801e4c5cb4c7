"""Writing result files so that a reader never sees half of one.

Why a module of its own: every command that leaves a JSON or text result behind (evaluation
reports, ``vidssl compare``, ``vidssl export``'s metadata, the results document) writes it the
same way, and none of them should reach into another's module for it. A file is written to a
temporary name beside it and renamed over the target (atomic on POSIX), so a run killed while
writing leaves the previous version intact. Checkpoints have their own writer, with fsync
(:func:`vidssl.train.checkpoint.save_checkpoint`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


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


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON (numpy / torch values converted, NaN written as null)."""
    path = Path(path)
    atomic_write(path, json.dumps(_jsonable(obj), indent=2) + "\n")
    return path
