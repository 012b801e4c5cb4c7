"""The single-frame probe: a still frame's accuracy measures a data set's scene bias."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vidssl.config import SyntheticConfig
from vidssl.data import synthetic
from vidssl.eval.single_frame import frame_features, middle_frames, single_frame_probe

CFG = SyntheticConfig(variant="scene", size=32, min_frames=8, max_frames=8, train_per_class=8,
                      test_per_class=6, val_per_class=0)


@pytest.fixture(scope="module", autouse=True)
def _free_memory_afterwards():
    yield
    synthetic.clear_cache()


def _probe(p: float, kind: str = "pixels") -> float:
    cfg = dataclasses.replace(CFG, scene_bias=p)
    train = synthetic.synthetic_source(cfg, "train")
    test = synthetic.synthetic_source(cfg, "test")
    return single_frame_probe(train, test, kind=kind, size=16)["accuracy"]


def test_scene_bias_measured_by_one_frame_rises_with_p():
    # Without scene bias one frame tells nothing (chance 0.1); with the class's own scene
    # every time it tells the class most of the time. The figure must rise with p.
    none, half, full = _probe(0.0), _probe(0.5), _probe(1.0)
    assert none < 0.3
    assert full > 0.6
    assert none < half < full


def test_random_2d_features_see_the_scene_too():
    assert _probe(1.0, "random2d") > 0.6


def test_middle_frame_is_the_one_probed():
    cfg = dataclasses.replace(CFG, train_per_class=1, test_per_class=1)
    source = synthetic.synthetic_source(cfg, "train")
    frames = middle_frames(source, size=32)
    assert frames.shape == (10, 3, 32, 32)
    video = source.open(3).frames([4])[0]
    assert torch.allclose(frames[3], torch.from_numpy(video).permute(2, 0, 1).float() / 255)


def test_frame_features_shapes_and_determinism():
    x = torch.rand(4, 3, 32, 32)
    assert frame_features(x, "pixels").shape == (4, 3 * 32 * 32)
    a, b = frame_features(x, "random2d", seed=1), frame_features(x, "random2d", seed=1)
    assert a.shape == (4, 256) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="kind"):
        frame_features(x, "optical-flow")
