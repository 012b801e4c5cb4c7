"""Pace-style baseline: paces are the integers of the rate range, evaluation leaves the MoCo
queue alone, and a config with no term on is refused."""

from __future__ import annotations

import pytest
import torch
from helpers import index_source

from vidssl.config import ConfigError, load_config
from vidssl.data.transforms import ClipTransform
from vidssl.method.baselines.pace import PaceModel, dataset
from vidssl.method.registry import check_config

BASE = [
    "method=pace", "model.backbone=r3d", "model.width=0.125", "sampler.clip_len=8",
    "sampler.min_len=2", "sampler.rate_max=4", "train.batch_size=4", "contrastive.queue_size=16",
    "contrastive.momentum=0.9", "data.resize=[20,20]", "data.crop=16",
]


def test_pace_evaluation_does_not_touch_the_queue() -> None:
    cfg = load_config(None, BASE)
    model = PaceModel.from_config(cfg)
    ds = dataset(cfg, index_source([120] * 4), ClipTransform.from_config(cfg.data, False), 0)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    before = model.moco.queue.keys.clone()
    model.eval()
    with torch.no_grad():
        model(batch)
    model.after_step()
    assert torch.equal(model.moco.queue.keys, before)
    model.train()
    model(batch)[0].backward()
    model.after_step()
    assert not torch.equal(model.moco.queue.keys, before)


def test_pace_needs_two_paces_and_a_term() -> None:
    with pytest.raises(ConfigError, match="rate_max > sampler.rate_min"):
        check_config(load_config(None, [*BASE, "sampler.rate_min=2", "sampler.rate_max=2"]))
    with pytest.raises(ConfigError, match="nothing to learn"):
        check_config(load_config(None, [*BASE, "loss.rate=0", "loss.contrastive=0"]))


def test_contrastive_weight_zero_builds_no_key_encoder() -> None:
    model = PaceModel.from_config(load_config(None, [*BASE, "loss.contrastive=0"]))
    assert model.moco is None
