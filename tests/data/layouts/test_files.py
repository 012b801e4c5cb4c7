"""What the layouts share: split-file lines with their numbers (a file that is not text names
its line), the data root a layout needs, and a listed video found as a file or a frame folder."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vidssl.data.layouts.files import (
    SplitFileError,
    data_root,
    resolve_video,
    split_lines,
    videos_in,
)
from vidssl.errors import ConfigError


def test_split_lines_skip_blanks_and_keep_numbers(tmp_path) -> None:
    f = tmp_path / "train.txt"
    f.write_text("a/v1.avi 1\n\n  b/v2.avi 2  \n")
    assert split_lines(f) == [(1, "a/v1.avi 1"), (3, "b/v2.avi 2")]
    f.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(SplitFileError, match=r"train.txt:2: not UTF-8"):
        split_lines(f)
    with pytest.raises(FileNotFoundError, match="split file not found"):
        split_lines(tmp_path / "none.txt")


def test_data_root_must_be_set_and_exist(tmp_path) -> None:
    with pytest.raises(ConfigError, match="data.root must be set for data.dataset=ucf101"):
        data_root(SimpleNamespace(root="", dataset="ucf101"))
    with pytest.raises(FileNotFoundError, match="data.root not found"):
        data_root(SimpleNamespace(root=str(tmp_path / "no"), dataset="ucf101"))
    assert data_root(SimpleNamespace(root=str(tmp_path), dataset="ucf101")) == tmp_path


def test_a_listed_video_is_a_file_or_its_frame_folder(tmp_path, coded_videos) -> None:
    frames = coded_videos["img_folder"]
    root = frames.parent
    assert resolve_video(root, frames.name, "") == frames
    assert resolve_video(root, frames.name + ".avi", "") == frames  # rawframes drop .avi
    assert resolve_video(root, "missing.avi", "") is None
    assert frames in videos_in(root, "")
