"""Fine-tuning learns a separable task, writes its log, results and report, leaves a
checkpoint evaluation can read, and resumes instead of training again."""

from __future__ import annotations

import json

from vidssl.train.checkpoint import load_backbone
from vidssl.train.finetune import finetune


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
