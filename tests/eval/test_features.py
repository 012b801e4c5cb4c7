"""Features every protocol starts from: one row per video with its label and path, the same
numbers however the videos are batched, the random-init baseline reproducible, and the conv5
feature pooled as VCOP's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidssl.eval.features import (
    FeatureSet,
    conv5_to_vector,
    extract_features,
    features_for_split,
    random_backbone,
)


def test_one_row_per_video_whatever_the_batch(brightness_source, tiny_config) -> None:
    cfg = tiny_config()
    source = brightness_source(2, seed=1)
    net = random_backbone(cfg)
    a = extract_features(net, source, cfg, batch_size=3, progress=False)
    b = extract_features(net, source, cfg, batch_size=8, progress=False)
    assert a.features.shape == (8, cfg.eval.clips, net.feature_dim)
    np.testing.assert_allclose(a.features, b.features, rtol=1e-5, atol=1e-6)
    assert a.labels.tolist() == source.labels and a.paths == [r.path for r in source.records]
    assert a.video_level().shape == (8, net.feature_dim)
    x, labels, rows = a.clip_level()
    assert x.shape[0] == labels.shape[0] == rows.shape[0] == 8 * cfg.eval.clips


def test_random_init_is_the_same_network_twice(tiny_config) -> None:
    cfg = tiny_config()
    state = torch.random.get_rng_state()
    one, two = random_backbone(cfg), random_backbone(cfg)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    for p, q in zip(one.parameters(), two.parameters(), strict=True):
        assert torch.equal(p, q)


def test_conv5_vector_and_given_features() -> None:
    fmap = torch.arange(16.0).reshape(1, 1, 1, 4, 4)
    assert conv5_to_vector(fmap).tolist() == [[5.0, 7.0, 13.0, 15.0]]
    given = FeatureSet(np.zeros((2, 1, 3)), [0, 1], ["a", "b"])
    assert features_for_split(None, None, "train", given, "src", "pool", "cpu", False) == (
        given, "src")
    with pytest.raises(ValueError, match="needs a backbone or precomputed features"):
        features_for_split(None, None, "train", None, None, "pool", "cpu", False)
    with pytest.raises(ValueError, match="one row per video"):
        FeatureSet(np.zeros((2, 1, 3)), [0], ["a", "b"])
