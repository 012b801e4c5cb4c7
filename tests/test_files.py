"""Result files are written whole: JSON with numpy / torch values and NaN, through a temporary
file renamed over the target (a reader never sees half of one)."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from vidssl.files import atomic_write, write_json


def test_write_json_converts_arrays_tensors_and_nan(tmp_path) -> None:
    path = write_json(tmp_path / "sub" / "r.json", {
        "a": np.float32(0.5), "b": np.arange(3), "c": torch.tensor([1.0, 2.0]),
        "d": math.nan, "e": (1, 2), 3: tmp_path})
    back = json.loads(path.read_text())
    assert back == {"a": 0.5, "b": [0, 1, 2], "c": [1.0, 2.0], "d": None, "e": [1, 2],
                    "3": str(tmp_path)}


def test_atomic_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path) -> None:
    path = tmp_path / "t.md"
    path.write_text("old and long text\n" * 100)
    atomic_write(path, "new\n")
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.md"]
