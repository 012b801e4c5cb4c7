"""Small labelled video sets built in memory, for the evaluation tests."""

from __future__ import annotations

import numpy as np
import pytest

from vidssl.config import Config, load_config
from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.video import ArrayVideo


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
