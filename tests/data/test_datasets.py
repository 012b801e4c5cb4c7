"""The torch datasets: pretext, fine-tuning and evaluation clips, skip-and-replace, epochs."""

from __future__ import annotations

import pytest
import torch
from helpers import coded_frames, decode_index, write_video

from vidssl.data.datasets import ClipDataset, MultiClipDataset, PretextDataset
from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.sampling import PretextSampler
from vidssl.data.skip_log import SkipLog
from vidssl.data.transforms import ClipTransform


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


def _frame_numbers(frames, rng=None):
    """A "transform" that returns the frame number each decoded frame encodes."""
    return torch.from_numpy(decode_index(frames))


@pytest.mark.parametrize("kind", ["h264.mp4", "mpeg4.avi", "img_folder"])
@pytest.mark.parametrize("clips,step,starts", [
    # 150 frames; centres at linspace(span/2, 150 - span/2, clips) (DESIGN 7)
    (4, 1, [0, 47, 95, 142]),  # span 8: centres 4, 51.3, 98.7, 146
    (3, 2, [0, 68, 135]),  # span 15: centres 7.5, 75, 142.5
])
def test_multiclip_dataset_positions(coded_videos, kind, clips, step, starts):
    """The frames decoded for each evaluation clip are the ones at the DESIGN 7 positions: the
    videos encode their frame number in the pixels, so this reads what was really decoded."""
    src = VideoSource([VideoRecord(str(coded_videos[kind]), 2)], ["a", "b", "c"])
    ds = MultiClipDataset(src, _frame_numbers, clips=clips, clip_len=8, step=step)
    item = ds[0]
    expected = [[s + step * t for t in range(8)] for s in starts]
    assert item["clips"].tolist() == expected and int(item["label"]) == 2
    real = MultiClipDataset(src, small_transform(train=False), clips=clips, clip_len=8,
                            step=step)[0]
    assert real["clips"].shape == (clips, 3, 8, 16, 16)


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
