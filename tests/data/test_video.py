"""The readers return exactly the frames asked for, and fail cleanly on bad files."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import coded_frames, decode_index, write_video

from vidssl.data.video import (
    ArrayVideo,
    FrameFolderVideo,
    ShortVideoError,
    VideoError,
    open_video,
)

KINDS = ["h264.mp4", "mpeg4.avi", "mpeg4-nob.avi", "img_folder", "frame_folder"]


@pytest.mark.parametrize("kind", KINDS)
def test_reader_returns_the_named_frames(coded_videos, kind):
    video = open_video(coded_videos[kind])
    assert video.num_frames == 150
    rng = np.random.default_rng(0)
    # unsorted, repeated, spread out (several seek runs) and at both ends
    idx = np.concatenate([[149, 0, 0, 75], rng.integers(0, 150, 30), [1, 148]])
    frames = video.frames(idx)
    assert frames.shape == (len(idx), 48, 96, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(decode_index(frames), idx)


def test_repeated_reads_on_one_open_video(coded_videos):
    video = open_video(coded_videos["h264.mp4"])
    for start in (100, 3, 140, 60):
        idx = np.arange(start, start + 10)
        np.testing.assert_array_equal(decode_index(video.frames(idx)), idx)


def test_avi_with_b_frames_uses_counting_mode(coded_videos):
    assert not open_video(coded_videos["mpeg4.avi"]).timestamps_ok
    assert open_video(coded_videos["h264.mp4"]).timestamps_ok


def test_out_of_range_index_is_an_error(coded_videos):
    with pytest.raises(IndexError):
        open_video(coded_videos["h264.mp4"]).frames([150])


def test_frame_pattern_selects_files(tmp_path, coded_videos):
    video = FrameFolderVideo(str(coded_videos["frame_folder"]), frame_pattern="frame%06d.jpg")
    assert video.num_frames == 150
    with pytest.raises(VideoError):
        FrameFolderVideo(str(coded_videos["frame_folder"]), frame_pattern="img_{:05d}.jpg")


@pytest.mark.parametrize(
    "ext,codec,bf", [("avi", "mpeg4", 0), ("mkv", "h264", 2), ("avi", "mpeg4", 2)]
)
def test_truncated_file_reports_true_count(tmp_path, ext, codec, bf):
    """Headers promise 100 frames; the data stops early. Never fewer or wrong frames."""
    path = write_video(tmp_path / f"t.{ext}", coded_frames(100), codec, b_frames=bf)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    video = open_video(path)
    assert video.num_frames == 100  # what the metadata says
    with pytest.raises(ShortVideoError) as info:
        video.frames([10, 95])
    true = info.value.true_count
    assert 0 < true < 100 and video.num_frames == true
    idx = np.array([true - 1, 0, true // 2])
    np.testing.assert_array_equal(decode_index(video.frames(idx)), idx)


def test_truncated_mp4_zero_byte_and_non_video_are_video_errors(tmp_path):
    mp4 = write_video(tmp_path / "t.mp4", coded_frames(30), "h264")
    mp4.write_bytes(mp4.read_bytes()[:2000])  # the index (moov) is at the end: gone
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.avi"
    text.write_text("this is not a video\n" * 50)
    for path in (mp4, empty, text, tmp_path / "missing.mp4", tmp_path):
        with pytest.raises(VideoError):
            open_video(path).frames([0])


def test_array_video():
    frames = coded_frames(20)
    video = ArrayVideo(frames, fps=10)
    assert (video.num_frames, video.fps) == (20, 10.0)
    np.testing.assert_array_equal(decode_index(video.frames([19, 3, 3])), [19, 3, 3])
    with pytest.raises(ValueError):
        ArrayVideo(frames.astype(np.float32))
