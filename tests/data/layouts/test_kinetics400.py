"""Kinetics-400 layouts as downloaded: annotation names, per-class and flat folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import coded_frames, touch, write_frame_folder, write_text

from vidssl.config import DataConfig
from vidssl.data.layouts import SplitFileError, build_source


def cfg(dataset: str, root: Path, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, root=str(root), **kw)


def test_kinetics400(tmp_path):
    write_text(
        tmp_path / "train.csv",
        "label,youtube_id,time_start,time_end,split\n"
        "air drumming,abc,14,24,train\nabseiling,def,0,10,train\nabseiling,gone,3,13,train\n",
    )
    write_text(
        tmp_path / "validate.csv",
        "label,youtube_id,time_start,time_end,split\nabseiling,xyz,5,15,val\n",
    )
    touch(tmp_path / "train" / "air_drumming" / "abc_000014_000024.mp4")
    touch(tmp_path / "train" / "abseiling" / "def_000000_000010.mp4")
    touch(tmp_path / "val" / "abseiling" / "xyz_000005_000015.mp4")
    train = build_source(cfg("kinetics400", tmp_path), "train")
    assert train.classes == ["abseiling", "air drumming"]
    assert train.labels == [1, 0] and len(train.missing) == 1  # "gone" left YouTube
    test = build_source(cfg("kinetics400", tmp_path), "test")
    assert test.labels == [0]
    write_text(tmp_path / "validate.csv", "label,youtube_id,time_start,time_end\nsurfing,q,1,2\n")
    with pytest.raises(SplitFileError, match=r"validate.csv:2: class 'surfing'"):
        build_source(cfg("kinetics400", tmp_path), "test")


K400_HEADER = "label,youtube_id,time_start,time_end,split,is_cc\n"


@pytest.mark.parametrize("names,csv_dir", [
    (("train.csv", "validate.csv"), ""),  # DeepMind release
    (("kinetics-400_train.csv", "kinetics-400_val.csv"), ""),  # ActivityNet crawler
    (("kinetics-400_train.csv", "kinetics-400_validate.csv"), ""),
    (("train.csv", "val.csv"), "annotations"),  # CVDF mirror
])
@pytest.mark.parametrize("layout", ["per-class", "flat"])
@pytest.mark.parametrize("val_dir", ["val", "validate"])
def test_kinetics400_release_layouts(tmp_path, names, csv_dir, layout, val_dir):
    """Every annotation naming and video layout of the real downloads is found as is."""
    write_text(tmp_path / csv_dir / names[0], K400_HEADER +
          "air drumming,abc,14,24,train,0\nabseiling,def,0,10,train,1\n"
          "abseiling,gone,3,13,train,0\n")
    write_text(tmp_path / csv_dir / names[1], K400_HEADER + "abseiling,xyz,5.0,15.0,val,0\n")
    files = [("train", "air drumming", "abc_000014_000024.mp4"),
             ("train", "abseiling", "def_000000_000010.mp4"),
             (val_dir, "abseiling", "xyz_000005_000015.mp4")]
    for sub, label, name in files:
        touch(tmp_path / sub / label / name if layout == "per-class" else tmp_path / sub / name)
    train = build_source(cfg("kinetics400", tmp_path), "train")
    assert train.classes == ["abseiling", "air drumming"]
    assert [Path(r.path).name for r in train.records] == [files[0][2], files[1][2]]
    assert train.labels == [1, 0] and len(train.missing) == 1  # "gone" left YouTube
    test = build_source(cfg("kinetics400", tmp_path), "test")
    assert [(Path(r.path).name, r.label) for r in test.records] == [(files[2][2], 0)]
    assert len(build_source(cfg("kinetics400", tmp_path), "all")) == 3


def test_kinetics400_flat_at_root_and_frame_folders(tmp_path):
    write_text(tmp_path / "train.csv", K400_HEADER + "abseiling,a_b-c,1,11,train,0\n")
    write_text(tmp_path / "validate.csv", K400_HEADER + "abseiling,q,2,12,val,0\n")
    touch(tmp_path / "a_b-c_000001_000011.webm")
    write_frame_folder(tmp_path / "val" / "q_000002_000012", coded_frames(2))
    assert Path(build_source(cfg("kinetics400", tmp_path), "train").records[0].path).name == (
        "a_b-c_000001_000011.webm")
    assert Path(build_source(cfg("kinetics400", tmp_path), "test").records[0].path).is_dir()


def test_kinetics400_missing_annotations_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.csv"):
        build_source(cfg("kinetics400", tmp_path), "train")


def test_kinetics400_finds_its_videos_without_a_stat_per_file(tmp_path, monkeypatch):
    """~240k videos on a network disk: the folder listings say which names are files, so
    no video is stat'ed on its own (a symbolic link still resolves)."""
    import os

    rows = "".join(f"abseiling,v{i},0,10\n" for i in (0, 1, 2, 3, 4, 5, 7))
    write_text(tmp_path / "train.csv", "label,youtube_id,time_start,time_end\n" + rows)
    for i in range(6):  # per-class and flat, one a link to a file elsewhere
        folder = tmp_path / "train" / ("abseiling" if i % 2 else "")
        touch(folder / f"v{i}_000000_000010.mp4")
    target = touch(tmp_path / "elsewhere.mp4")
    link = tmp_path / "train" / "abseiling" / "v1_000000_000010.mp4"
    link.unlink()
    link.symlink_to(target)
    (tmp_path / "train" / "abseiling" / "v7_000000_000010.mp4").mkdir()  # not a video file
    stats: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        stats.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    src = build_source(cfg("kinetics400", tmp_path), "train")
    assert len(src) == 6 and len(src.missing) == 1  # v7 is a folder without frames
    assert Path(src.records[1].path) == link
    assert not [p for p in stats if p.endswith(".mp4")], stats
