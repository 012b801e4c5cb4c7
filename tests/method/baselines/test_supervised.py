"""The supervised upper bound: classes are counted from the training split, unlabelled data is
refused."""

from __future__ import annotations

import pytest
from helpers import index_source

from vidssl.config import load_config
from vidssl.data.transforms import ClipTransform
from vidssl.method.baselines.supervised import SupervisedModel, dataset, num_classes

TINY = ["method=supervised", "model.backbone=r3d", "model.width=0.125",
        "data.synthetic.train_per_class=1", "data.synthetic.test_per_class=1"]


def test_classes_come_from_the_training_split() -> None:
    cfg = load_config(None, TINY)
    n = num_classes(cfg)
    assert n >= 2
    assert SupervisedModel.from_config(cfg).fc.out_features == n


def test_unlabelled_videos_are_refused() -> None:
    cfg = load_config(None, TINY)
    source = index_source([40, 40], labels=[0, -1])
    with pytest.raises(ValueError, match="needs labelled videos"):
        dataset(cfg, source, ClipTransform.from_config(cfg.data, False), 0)
