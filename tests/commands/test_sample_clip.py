"""``vidssl sample-clip`` and the real-footage check (skipped when the footage is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import decode_index

from vidssl.cli import main
from vidssl.data.video import ShortVideoError, open_video

GESTURES = Path("/work/shared/data/gestures-ps7")


def test_sample_clip_json_and_frames(coded_videos, tmp_path, capsys):
    npy, png = tmp_path / "clip.npy", tmp_path / "clip.png"
    src = str(coded_videos["h264.mp4"])
    argv = ["sample-clip", src, "--segments", "4", "--rates", "2", "3", "--length", "16"]
    assert main(argv + ["--seed", "5", "--json", "--save-frames", str(npy), "--png", str(png)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["segments"]) == 4 and sorted(info["perm"]) == [0, 1, 2, 3]
    assert all(r in (2, 3) for r in info["rates"])
    for seg, rate in zip(info["segments"], info["rates"], strict=True):
        assert (np.diff(seg) == rate).all()
    frames = np.load(npy)
    assert frames.shape == (16, 48, 96, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(decode_index(frames), info["indices"])
    assert png.stat().st_size > 0


def test_sample_clip_bad_source(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    assert main(["sample-clip", str(bad)]) == 1
    assert "bad.mp4" in capsys.readouterr().err


@pytest.mark.skipif(not GESTURES.is_dir(), reason="real footage not present")
def test_real_gesture_footage():
    from vidssl.config import DataConfig
    from vidssl.data.layouts import build_source

    src = build_source(DataConfig(dataset="folder", root=str(GESTURES)), "train")
    assert src.classes == ["A1", "A2", "A3"] and len(src) == 27
    video = open_video(src.records[0].path)
    last = video.num_frames - 1
    try:
        frames = video.frames([0, last // 2, last])
    except ShortVideoError:
        frames = video.frames([0, video.num_frames - 1])
    assert frames.shape[1:] == (480, 640, 3)
