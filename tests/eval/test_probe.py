"""The linear probe (and retrieval on the same features) learn an easy labelled set (class =
brightness level); both would fall to chance (0.25) if train labels, test labels or splits
were crossed. Fine-tuning's twin test is tests/train/test_finetune.py."""

from __future__ import annotations

import numpy as np

from vidssl.eval.features import FeatureSet, extract_features, random_backbone
from vidssl.eval.probe import linear_probe
from vidssl.eval.retrieval import evaluate_retrieval


def test_probe_and_retrieval_share_features_and_separate_brightness(
    brightness_source, tiny_config, tmp_path
):
    cfg = tiny_config()
    train, test = brightness_source(8, seed=1), brightness_source(5, seed=2)
    backbone = random_backbone(cfg)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    f_train = extract_features(backbone, train, cfg, progress=False)
    f_test = extract_features(backbone, test, cfg, progress=False)
    assert f_train.features.shape == (32, 2, backbone.feature_dim)
    assert f_train.labels.tolist() == train.labels  # rows follow the source order
    # Extraction must not touch the weights or BN statistics (eval mode throughout).
    for k, v in backbone.state_dict().items():
        assert (v == before[k]).all(), k
    probe = linear_probe(None, cfg, train_features=f_train, test_features=f_test)
    assert probe["accuracy"] >= 0.9
    ret = evaluate_retrieval(None, cfg, train_features=f_train, test_features=f_test,
                             train_source=train, test_source=test,
                             grid=tmp_path / "grid.png", progress=False)
    assert ret["top1"] >= 0.6 and ret["num_queries"] == 20  # chance is 0.25
    assert (tmp_path / "grid.png").stat().st_size > 0
    # Saved features read back identically (what `vidssl extract` writes).
    written = f_test.save(tmp_path / "feats", per_clip=True)
    back = FeatureSet.load(written["index"])
    np.testing.assert_array_equal(back.features, f_test.features)
    assert back.labels.tolist() == f_test.labels.tolist() and back.paths == f_test.paths
