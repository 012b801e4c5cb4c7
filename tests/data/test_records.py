"""VideoSource: records with labels, opened from disk, memory or an opener."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import coded_frames, decode_index

from vidssl.data.datasets import PretextDataset
from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.sampling import PretextSampler
from vidssl.data.transforms import ClipTransform
from vidssl.data.video import ArrayVideo, VideoError


def small_transform(**kw):
    return ClipTransform(resize=(24, 48), crop=16, **kw)


def test_in_memory_source():
    videos = [ArrayVideo(coded_frames(40)), ArrayVideo(coded_frames(60))]
    src = VideoSource([VideoRecord(f"<{i}>", i) for i in range(2)], ["x", "y"], videos=videos)
    frames = src.open(1).frames([59, 0])
    np.testing.assert_array_equal(decode_index(frames), [59, 0])
    ds = PretextDataset(src, PretextSampler(clip_len=8, n_segments=2), small_transform(), seed=0)
    assert ds[1]["clip"].shape == (3, 8, 16, 16)


def test_opener_and_files(coded_videos, tmp_path):
    opened = []

    def opener(rec: VideoRecord) -> ArrayVideo:
        opened.append(rec.path)
        return ArrayVideo(coded_frames(5))

    src = VideoSource([VideoRecord("<a>", 0)], ["x"], opener=opener)
    assert src.open(0).num_frames == 5 and opened == ["<a>"]
    on_disk = VideoSource([VideoRecord(str(coded_videos["h264.mp4"]), 1),
                           VideoRecord(str(tmp_path / "absent.mp4"), 0)], ["x", "y"])
    assert on_disk.labels == [1, 0] and len(on_disk) == 2
    np.testing.assert_array_equal(decode_index(on_disk.open(0).frames([3])), [3])
    with pytest.raises(VideoError):
        on_disk.open(1)
    with pytest.raises(ValueError, match="1 videos for 2 records"):
        VideoSource(on_disk.records, videos=[ArrayVideo(coded_frames(2))])
