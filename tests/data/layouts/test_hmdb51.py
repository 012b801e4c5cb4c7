"""HMDB51 layout: label order, 0/1/2 codes, errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import touch, write_text

from vidssl.config import DataConfig
from vidssl.data.layouts import SplitFileError, build_source


def cfg(dataset: str, root: Path, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, root=str(root), **kw)


def test_hmdb51_records_in_label_order(tmp_path):
    """``sword_exercise_test_split1.txt`` sorts before ``sword_test_split1.txt``; the labels
    (sorted class names) put sword first, and so do the records."""
    splits = tmp_path / "testTrainMulti_7030_splits"
    for c in ("sword_exercise", "sword", "smile"):
        touch(tmp_path / c / f"{c}_1.avi")
        touch(tmp_path / c / f"{c}_2.avi")
        write_text(splits / f"{c}_test_split1.txt", f"{c}_2.avi 1\n{c}_1.avi 1\n")
    train = build_source(cfg("hmdb51", tmp_path), "train")
    assert train.classes == ["smile", "sword", "sword_exercise"]
    assert train.labels == [0, 0, 1, 1, 2, 2]
    assert [Path(r.path).name for r in train.records][:2] == ["smile_2.avi", "smile_1.avi"]


def test_hmdb51_codes(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    for c in ("wave", "clap"):
        for v in ("a", "b", "c"):
            touch(tmp_path / c / f"{c}_{v}.avi")
        write_text(splits / f"{c}_test_split1.txt", f"{c}_a.avi 1 \n{c}_b.avi 2 \n{c}_c.avi 0 \n")
    train = build_source(cfg("hmdb51", tmp_path), "train")
    assert train.classes == ["clap", "wave"]
    assert [(Path(r.path).name, r.label) for r in train.records] == [
        ("clap_a.avi", 0),
        ("wave_a.avi", 1),
    ]
    test = build_source(cfg("hmdb51", tmp_path), "test")
    assert [Path(r.path).name for r in test.records] == ["clap_b.avi", "wave_b.avi"]
    assert len(build_source(cfg("hmdb51", tmp_path), "all")) == 4
    write_text(splits / "wave_test_split1.txt", "wave_a.avi 1\nwave_b.avi 3\n")
    with pytest.raises(SplitFileError, match=r"wave_test_split1.txt:2"):
        build_source(cfg("hmdb51", tmp_path), "train")
