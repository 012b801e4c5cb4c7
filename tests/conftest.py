"""Shared fixtures: small real videos (PyAV H.264 / MPEG-4 files and frame folders), and
small labelled video sets built in memory (brightness_source, tiny_config).

Videos are written once per test session into a temporary folder; ``coded_videos`` maps a
kind to a path whose frame ``k`` reads back as ``k`` through ``helpers.decode_index``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from helpers import coded_frames, write_frame_folder, write_video  # noqa: E402

from vidssl.config import Config, load_config  # noqa: E402
from vidssl.data.records import VideoRecord, VideoSource  # noqa: E402
from vidssl.data.video import ArrayVideo  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run tiny networks: one torch thread is fastest for them and keeps a test from
    competing with itself for the CI machine's two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CODED_LENGTH = 150  # frames in each coded video: longer than the longest pretext span (121)


@pytest.fixture(scope="session")
def coded_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{kind: path} of 150-frame coded videos: h264 mp4, mpeg4 avi (with B-frames, counting
    mode), mpeg4 avi without B-frames, and img_00001.jpg / frame000001.jpg frame folders."""
    root = tmp_path_factory.mktemp("coded")
    frames = coded_frames(CODED_LENGTH)
    return {
        "h264.mp4": write_video(root / "h264.mp4", frames, "h264"),
        "mpeg4.avi": write_video(root / "mpeg4.avi", frames, "mpeg4"),
        "mpeg4-nob.avi": write_video(root / "mpeg4-nob.avi", frames, "mpeg4", b_frames=0),
        "img_folder": write_frame_folder(root / "img_folder", frames, "img_{:05d}.jpg"),
        "frame_folder": write_frame_folder(root / "frame_folder", frames, "frame{:06d}.jpg"),
    }


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: longer end-to-end tests (still part of CI)")


# --------------------------------------------------------------------------------------------
# Small labelled video sets built in memory (evaluation, fine-tuning and command tests)
# --------------------------------------------------------------------------------------------


def make_brightness_source(per_class: int, classes: int = 4, frames: int = 20, size: int = 32,
                      seed: int = 0) -> VideoSource:
    """Videos whose class is their brightness level (plus pixel noise): any working pipeline
    separates them, and crossed labels or splits drop accuracy to chance."""
    rng = np.random.default_rng(seed)
    videos, records = [], []
    order = rng.permutation(np.repeat(np.arange(classes), per_class))  # classes interleaved
    for i, c in enumerate(order.tolist()):
        level = 40 + 170 * c / max(1, classes - 1)
        x = level + rng.normal(0, 12, size=(frames, size, size, 3))
        videos.append(ArrayVideo(np.clip(x, 0, 255).astype(np.uint8), path=f"v{seed}_{i}"))
        records.append(VideoRecord(f"v{seed}_{i}", c))
    return VideoSource(records, [f"level{c}" for c in range(classes)], videos=videos)


def make_tiny_config(tmp_path, **extra: object) -> Config:
    """r3d at width 1/8 on 8-frame 32x32 clips, no workers, no augmentation noise."""
    overrides = [
        "model.backbone=r3d", "model.width=0.125", "data.resize=[32,32]", "data.crop=32",
        "data.num_workers=0", "data.color_jitter=0.0", "data.hflip=false",
        "eval.clips=2", "eval.clip_len=8", "eval.batch_size=16",
        "finetune.clip_len=8", "finetune.test_clips=2", "train.device=cpu",
        f"train.out_dir={tmp_path}",
    ] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, overrides)


@pytest.fixture
def brightness_source():
    """Factory: ``brightness_source(per_class, classes=4, frames=20, size=32, seed=0)``."""
    return make_brightness_source


@pytest.fixture
def tiny_config(tmp_path):
    """Factory: ``tiny_config(**{"section.key": value})`` -> a tiny CPU Config."""
    return lambda **extra: make_tiny_config(tmp_path, **extra)
