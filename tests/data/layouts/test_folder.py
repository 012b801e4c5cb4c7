"""Folder layout: class folders, with and without split lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import touch, write_text

from vidssl.config import DataConfig
from vidssl.data.layouts import SplitFileError, build_source


def cfg(dataset: str, root: Path, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, root=str(root), **kw)


def test_folder_layout_with_and_without_lists(tmp_path):
    for c in ("b", "a"):
        touch(tmp_path / c / "one.mp4")
        touch(tmp_path / c / "two.avi")
    touch(tmp_path / "a" / "notes.txt")
    everything = build_source(cfg("folder", tmp_path), "train")
    assert everything.classes == ["a", "b"] and everything.labels == [0, 0, 1, 1]
    write_text(tmp_path / "train.txt", "a/one.mp4 a\nb/one.mp4 1\n")
    write_text(tmp_path / "test.txt", "a/two.avi a\nb/two.avi c\n")
    c = cfg("folder", tmp_path, train_list="train.txt", test_list="test.txt")
    assert build_source(c, "train").labels == [0, 1]
    with pytest.raises(SplitFileError, match=r"test.txt:2: label 'c'"):
        build_source(c, "test")
