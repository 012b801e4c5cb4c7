"""UCF101 layout: classInd order, train/test lists, errors naming file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import coded_frames, touch, write_frame_folder, write_text

from vidssl.config import DataConfig
from vidssl.data.layouts import SplitFileError, build_source


def cfg(dataset: str, root: Path, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, root=str(root), **kw)


@pytest.fixture
def ucf(tmp_path):
    for c in ("Basketball", "ApplyEyeMakeup"):
        for g in (1, 2):
            touch(tmp_path / c / f"v_{c}_g0{g}_c01.avi")
    # a frame folder instead of a video file, as mmaction2 rawframes keep it
    write_frame_folder(tmp_path / "Basketball" / "v_Basketball_g03_c01", coded_frames(3))
    lists = tmp_path / "ucfTrainTestlist"
    write_text(lists / "classInd.txt", "1 Basketball\n2 ApplyEyeMakeup\n")  # not sorted: order kept
    write_text(
        lists / "trainlist01.txt",
        "Basketball/v_Basketball_g02_c01.avi 1\nApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 2\n"
        "Basketball/v_Basketball_g03_c01.avi 1\n",
    )
    write_text(
        lists / "testlist01.txt",
        "Basketball/v_Basketball_g01_c01.avi\r\nApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n",
    )
    return tmp_path


def test_ucf101_labels_follow_classind(ucf):
    train = build_source(cfg("ucf101", ucf), "train")
    assert train.classes == ["Basketball", "ApplyEyeMakeup"]
    assert train.labels == [0, 1, 0]
    assert os.path.isdir(train.records[2].path)  # resolved to the frame folder
    test = build_source(cfg("ucf101", ucf), "test")
    assert [Path(r.path).name for r in test.records] == [
        "v_Basketball_g01_c01.avi",
        "v_ApplyEyeMakeup_g01_c01.avi",
    ]
    assert test.labels == [0, 1]
    assert len(build_source(cfg("ucf101", ucf), "all")) == 5


@pytest.mark.parametrize(
    "line,what",
    [
        ("Volleyball/v_Volleyball_g01_c01.avi", "class 'Volleyball'"),
        ("Basketball/v_Basketball_g09_c01.avi", "not found"),
        ("Basketball/v_Basketball_g01_c01.avi 2", "disagrees"),
    ],
)
def test_ucf101_bad_line_names_file_and_line(ucf, line, what):
    write_text(
        ucf / "ucfTrainTestlist" / "testlist01.txt",
        f"Basketball/v_Basketball_g01_c01.avi\n{line}\n",
    )
    with pytest.raises(SplitFileError, match=rf"testlist01.txt:2: .*{what}"):
        build_source(cfg("ucf101", ucf), "test")
