"""Fine-tuning and the linear probe learn an easy labelled set (class = brightness level).

Both would fall to chance (0.25) if train labels, test labels or splits were crossed."""

from __future__ import annotations

import json

import numpy as np

from vidssl.eval.features import FeatureSet, extract_features, random_backbone
from vidssl.eval.probe import linear_probe
from vidssl.eval.retrieval import evaluate_retrieval
from vidssl.train.checkpoint import load_backbone
from vidssl.train.finetune import finetune


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


def test_finetune_learns_and_writes_outputs(brightness_source, tiny_config, tmp_path):
    cfg = tiny_config(**{"finetune.epochs": 12, "finetune.batch_size": 8,
                         "finetune.optimizer": "adamw", "finetune.lr": 0.003,
                         "finetune.milestones": "[8]", "finetune.dropout": 0.0})
    train, test = brightness_source(6, seed=3), brightness_source(4, seed=4)
    out = tmp_path / "ft"
    res = finetune(None, cfg, out_dir=out, train_source=train, test_source=test,
                   progress=False)
    assert res["init"] == "random" and res["num_test_videos"] == 16
    assert res["video_top1"] >= 0.9, res
    saved = json.loads((out / "finetune.json").read_text())
    assert saved["video_top1"] == res["video_top1"]
    assert (out / "finetune.md").read_text().count("finetune_curves.png") == 1
    rows = (out / "finetune.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 12
    # The per-epoch checkpoint holds a backbone that evaluation can load.
    backbone, ckpt_cfg = load_backbone(out / "finetune_last.pt")
    assert ckpt_cfg.model.backbone == "r3d" and backbone.feature_dim == 8 * 8
    # Running again with the same folder resumes after the last epoch: no retraining.
    again = finetune(None, cfg, out_dir=out, train_source=train, test_source=test,
                     progress=False)
    assert again["video_top1"] == res["video_top1"]
    assert again["final_loss"] == res["final_loss"]
    assert len((out / "finetune.csv").read_text().strip().splitlines()) == 1 + 12
