"""The compare file: its schema and checks refuse malformed files naming the key, and every
shipped compare file builds every row's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidssl.compare.spec import (
    CompareError,
    load_compare,
    method_config,
    parse_compare,
    parse_seeds,
    view_config,
)
from vidssl.config import PACKAGE_CONFIGS

SHIPPED = sorted((PACKAGE_CONFIGS / "compare").glob("*.yaml"))


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "extra": 1}, "unknown key"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}],
          "evaluations": ["accuracy"]}, "evaluations"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}, {"name": "a"}]}, "duplicate"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a/b"}]}, "folder"),
        ({"base": "x", "methods": [{"name": "a"}]}, "'out_dir' is required"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a", "view": True}]},
         "no top-level 'view'"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "seeds": []}, "seeds"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "seeds": [0, 0]}, "repeat"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "seeds": "0,1"}, "seeds"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "reference": "b"},
         "reference 'b'"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "previous"}]},
         "'previous' is reserved"),
    ],
)
def test_malformed_compare_files_are_rejected(tmp_path, raw, message) -> None:
    (tmp_path / "x").write_text("name: x\n")
    with pytest.raises(CompareError, match=message):
        parse_compare(raw, tmp_path / "cmp.yaml")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_compare_configs_are_valid(path: Path) -> None:
    spec = load_compare(path)
    if spec.view is not None:
        view_config(spec)
    configs = [method_config(spec, m) for m in spec.methods]  # every row validates
    assert len({c.train.out_dir for c in configs}) == len(configs)


def test_seeds_parse_from_the_command_line() -> None:
    assert parse_seeds("0,1,2") == [0, 1, 2]
    with pytest.raises(CompareError, match="--seeds: expected integers"):
        parse_seeds("0,x")
    with pytest.raises(CompareError, match="repeat"):
        parse_seeds("1,1")
