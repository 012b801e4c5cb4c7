"""Unlabeled layout: every video file and frame folder under the root, label -1."""

from __future__ import annotations

from pathlib import Path

from helpers import coded_frames, touch, write_frame_folder

from vidssl.config import DataConfig
from vidssl.data.layouts import build_source


def cfg(dataset: str, root: Path, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, root=str(root), **kw)


def test_unlabeled_finds_files_and_frame_folders(tmp_path):
    touch(tmp_path / "x" / "a.mp4")
    touch(tmp_path / "b.webm")
    write_frame_folder(tmp_path / "y" / "clip1", coded_frames(2), "frame{:06d}.jpg")
    src = build_source(cfg("unlabeled", tmp_path), "train")
    assert sorted(Path(r.path).name for r in src.records) == ["a.mp4", "b.webm", "clip1"]
    assert set(src.labels) == {-1}
