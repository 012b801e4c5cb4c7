"""Split-file parsers against tiny trees in the real formats, and the torch datasets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import coded_frames, decode_index, write_frame_folder, write_video

from vidssl.config import DataConfig
from vidssl.data.datasets import (
    ClipDataset,
    MultiClipDataset,
    PretextDataset,
    SkipLog,
    SplitFileError,
    VideoRecord,
    VideoSource,
    build_source,
)
from vidssl.data.sampling import PretextSampler
from vidssl.data.transforms import ClipTransform
from vidssl.data.video import ArrayVideo


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cfg(dataset: str, root: Path, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, root=str(root), **kw)


# ------------------------------------------------------------------ UCF101


@pytest.fixture
def ucf(tmp_path):
    for c in ("Basketball", "ApplyEyeMakeup"):
        for g in (1, 2):
            touch(tmp_path / c / f"v_{c}_g0{g}_c01.avi")
    # a frame folder instead of a video file, as mmaction2 rawframes keep it
    write_frame_folder(tmp_path / "Basketball" / "v_Basketball_g03_c01", coded_frames(3))
    lists = tmp_path / "ucfTrainTestlist"
    write(lists / "classInd.txt", "1 Basketball\n2 ApplyEyeMakeup\n")  # not sorted: order kept
    write(
        lists / "trainlist01.txt",
        "Basketball/v_Basketball_g02_c01.avi 1\nApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 2\n"
        "Basketball/v_Basketball_g03_c01.avi 1\n",
    )
    write(
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
    write(
        ucf / "ucfTrainTestlist" / "testlist01.txt",
        f"Basketball/v_Basketball_g01_c01.avi\n{line}\n",
    )
    with pytest.raises(SplitFileError, match=rf"testlist01.txt:2: .*{what}"):
        build_source(cfg("ucf101", ucf), "test")


# ------------------------------------------------------------------ HMDB51


def test_hmdb51_records_in_label_order(tmp_path):
    """``sword_exercise_test_split1.txt`` sorts before ``sword_test_split1.txt``; the labels
    (sorted class names) put sword first, and so do the records."""
    splits = tmp_path / "testTrainMulti_7030_splits"
    for c in ("sword_exercise", "sword", "smile"):
        touch(tmp_path / c / f"{c}_1.avi")
        touch(tmp_path / c / f"{c}_2.avi")
        write(splits / f"{c}_test_split1.txt", f"{c}_2.avi 1\n{c}_1.avi 1\n")
    train = build_source(cfg("hmdb51", tmp_path), "train")
    assert train.classes == ["smile", "sword", "sword_exercise"]
    assert train.labels == [0, 0, 1, 1, 2, 2]
    assert [Path(r.path).name for r in train.records][:2] == ["smile_2.avi", "smile_1.avi"]


def test_hmdb51_codes(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    for c in ("wave", "clap"):
        for v in ("a", "b", "c"):
            touch(tmp_path / c / f"{c}_{v}.avi")
        write(splits / f"{c}_test_split1.txt", f"{c}_a.avi 1 \n{c}_b.avi 2 \n{c}_c.avi 0 \n")
    train = build_source(cfg("hmdb51", tmp_path), "train")
    assert train.classes == ["clap", "wave"]
    assert [(Path(r.path).name, r.label) for r in train.records] == [
        ("clap_a.avi", 0),
        ("wave_a.avi", 1),
    ]
    test = build_source(cfg("hmdb51", tmp_path), "test")
    assert [Path(r.path).name for r in test.records] == ["clap_b.avi", "wave_b.avi"]
    assert len(build_source(cfg("hmdb51", tmp_path), "all")) == 4
    write(splits / "wave_test_split1.txt", "wave_a.avi 1\nwave_b.avi 3\n")
    with pytest.raises(SplitFileError, match=r"wave_test_split1.txt:2"):
        build_source(cfg("hmdb51", tmp_path), "train")


# ------------------------------------------------------------------ Kinetics-400


def test_kinetics400(tmp_path):
    write(
        tmp_path / "train.csv",
        "label,youtube_id,time_start,time_end,split\n"
        "air drumming,abc,14,24,train\nabseiling,def,0,10,train\nabseiling,gone,3,13,train\n",
    )
    write(
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
    write(tmp_path / "validate.csv", "label,youtube_id,time_start,time_end\nsurfing,q,1,2\n")
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
    write(tmp_path / csv_dir / names[0], K400_HEADER +
          "air drumming,abc,14,24,train,0\nabseiling,def,0,10,train,1\n"
          "abseiling,gone,3,13,train,0\n")
    write(tmp_path / csv_dir / names[1], K400_HEADER + "abseiling,xyz,5.0,15.0,val,0\n")
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
    write(tmp_path / "train.csv", K400_HEADER + "abseiling,a_b-c,1,11,train,0\n")
    write(tmp_path / "validate.csv", K400_HEADER + "abseiling,q,2,12,val,0\n")
    touch(tmp_path / "a_b-c_000001_000011.webm")
    write_frame_folder(tmp_path / "val" / "q_000002_000012", coded_frames(2))
    assert Path(build_source(cfg("kinetics400", tmp_path), "train").records[0].path).name == (
        "a_b-c_000001_000011.webm")
    assert Path(build_source(cfg("kinetics400", tmp_path), "test").records[0].path).is_dir()


def test_kinetics400_missing_annotations_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.csv"):
        build_source(cfg("kinetics400", tmp_path), "train")


# ------------------------------------------------------------------ folder / unlabeled


def test_folder_layout_with_and_without_lists(tmp_path):
    for c in ("b", "a"):
        touch(tmp_path / c / "one.mp4")
        touch(tmp_path / c / "two.avi")
    touch(tmp_path / "a" / "notes.txt")
    everything = build_source(cfg("folder", tmp_path), "train")
    assert everything.classes == ["a", "b"] and everything.labels == [0, 0, 1, 1]
    write(tmp_path / "train.txt", "a/one.mp4 a\nb/one.mp4 1\n")
    write(tmp_path / "test.txt", "a/two.avi a\nb/two.avi c\n")
    c = cfg("folder", tmp_path, train_list="train.txt", test_list="test.txt")
    assert build_source(c, "train").labels == [0, 1]
    with pytest.raises(SplitFileError, match=r"test.txt:2: label 'c'"):
        build_source(c, "test")


def test_unlabeled_finds_files_and_frame_folders(tmp_path):
    touch(tmp_path / "x" / "a.mp4")
    touch(tmp_path / "b.webm")
    write_frame_folder(tmp_path / "y" / "clip1", coded_frames(2), "frame{:06d}.jpg")
    src = build_source(cfg("unlabeled", tmp_path), "train")
    assert sorted(Path(r.path).name for r in src.records) == ["a.mp4", "b.webm", "clip1"]
    assert set(src.labels) == {-1}


# ------------------------------------------------------------------ datasets


@pytest.fixture
def mixed_source(tmp_path, coded_videos):
    """Two good videos, a short one, a zero-byte file, a non-video and a truncated mp4."""
    short = write_video(tmp_path / "short.mp4", coded_frames(10), "h264")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "text.avi"
    text.write_text("not a video\n" * 20)
    cut = write_video(tmp_path / "cut.mp4", coded_frames(30), "h264")
    cut.write_bytes(cut.read_bytes()[:1500])
    paths = [coded_videos["h264.mp4"], coded_videos["img_folder"], short, empty, text, cut]
    return VideoSource([VideoRecord(str(p), i) for i, p in enumerate(paths)], list("abcdef"))


def small_transform(**kw):
    return ClipTransform(resize=(24, 48), crop=16, **kw)


def test_pretext_dataset_skips_bad_videos_and_counts(mixed_source):
    log = SkipLog()
    ds = PretextDataset(mixed_source, PretextSampler(), small_transform(), seed=1, skip_log=log)
    items = [ds[i] for i in range(len(ds))]
    for item in items:
        assert item["clip"].shape == (3, 16, 16, 16) and item["key"].shape == (3, 16, 16, 16)
        assert item["rates"].shape == (3,) and 0 <= int(item["order"]) < 6
    # bad videos (3, 4, 5) were replaced by readable ones
    assert {int(it["index"]) for it in items} <= {0, 1, 2}
    assert all(int(it["label"]) == int(it["index"]) for it in items)
    counts = log.counts()
    assert counts["skipped_videos"] == 3 and counts["short"] >= 2
    summary = log.summary()
    assert "3 video(s) skipped" in summary and "empty.mp4" in summary and "looped" in summary


def test_pretext_dataset_is_reproducible_per_epoch(coded_videos):
    src = VideoSource([VideoRecord(str(coded_videos["h264.mp4"]), 0)], ["a"])
    ds = PretextDataset(src, PretextSampler(), small_transform(), seed=3, with_key=False)
    a, b = ds[0], ds[0]
    assert "key" not in a
    assert torch.equal(a["clip"], b["clip"]) and int(a["order"]) == int(b["order"])
    ds.set_epoch(1)
    c = ds[0]
    assert not torch.equal(a["clip"], c["clip"])


def test_dataloader_workers_share_the_skip_log(mixed_source):
    log = SkipLog()
    ds = ClipDataset(mixed_source, small_transform(), clip_len=8, step=2, skip_log=log)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    batches = list(loader)
    assert sum(len(b["label"]) for b in batches) == len(mixed_source)
    assert log.counts()["skipped_videos"] == 3


def test_multiclip_dataset_positions(coded_videos):
    src = VideoSource([VideoRecord(str(coded_videos["h264.mp4"]), 2)], ["a", "b", "c"])
    ds = MultiClipDataset(src, small_transform(train=False), clips=4, clip_len=8, step=1)
    item = ds[0]
    assert item["clips"].shape == (4, 3, 8, 16, 16) and int(item["label"]) == 2


def test_in_memory_source():
    videos = [ArrayVideo(coded_frames(40)), ArrayVideo(coded_frames(60))]
    src = VideoSource([VideoRecord(f"<{i}>", i) for i in range(2)], ["x", "y"], videos=videos)
    frames = src.open(1).frames([59, 0])
    np.testing.assert_array_equal(decode_index(frames), [59, 0])
    ds = PretextDataset(src, PretextSampler(clip_len=8, n_segments=2), small_transform(), seed=0)
    assert ds[1]["clip"].shape == (3, 8, 16, 16)


class _SizeSpy:
    """A video that records the ``size`` each ``frames`` call asked for."""

    def __init__(self, video):
        self.video, self.path, self.fps = video, video.path, video.fps
        self.num_frames = video.num_frames
        self.sizes = []

    def frames(self, indices, size=None):
        self.sizes.append(size)
        return self.video.frames(indices, size=size)


@pytest.mark.parametrize("on", [True, False])
def test_datasets_ask_the_reader_for_the_resize_size(coded_videos, on):
    from vidssl.data.video import open_video

    spy = _SizeSpy(open_video(coded_videos["h264.mp4"]))
    src = VideoSource([VideoRecord(spy.path, 0)], ["a"], videos=[spy])
    ds = MultiClipDataset(src, small_transform(train=False, resize_on_decode=on), clips=2,
                          clip_len=8)
    clips = ds[0]["clips"]
    assert clips.shape == (2, 3, 8, 16, 16) and spy.sizes == [(24, 48) if on else None]


def test_resize_on_decode_gives_nearly_the_same_clips(coded_videos):
    """The clip tensors with and without resizing in the decoder: same crop, same frames,
    pixels within a few grey levels (normalised units: 1 level is ~0.018)."""
    src = VideoSource([VideoRecord(str(coded_videos["mpeg4-nob.avi"]), 0)], ["a"])
    clips = [
        MultiClipDataset(src, small_transform(train=False, resize_on_decode=on), clips=2,
                         clip_len=8)[0]["clips"]
        for on in (True, False)
    ]
    assert (clips[0] - clips[1]).abs().mean() < 0.05
