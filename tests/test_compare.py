"""``vidssl compare``: the file format, a tiny end-to-end comparison, and resuming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import starts_with_markdown_table

from vidssl.compare import (
    CompareError,
    load_compare,
    markdown_table,
    method_config,
    parse_compare,
    run_compare,
    training_cost,
    view_config,
)
from vidssl.config import PACKAGE_CONFIGS, load_config

TINY = [
    "data.dataset=synthetic", "data.synthetic.size=32", "data.synthetic.train_per_class=2",
    "data.synthetic.test_per_class=1", "data.synthetic.min_frames=40",
    "data.synthetic.max_frames=48", "data.resize=[20,20]", "data.crop=16",
    "data.num_workers=0", "data.input=diff", "model.backbone=r3d", "model.width=0.125",
    "sampler.clip_len=8", "sampler.min_len=2", "train.batch_size=4", "train.epochs=1",
    "train.steps_per_epoch=2", "train.threads=1", "train.device=cpu", "train.eval_every=1",
    "contrastive.queue_size=16", "eval.clips=2", "eval.clip_len=8", "eval.batch_size=8",
    "finetune.epochs=1", "finetune.batch_size=8", "finetune.clip_len=8",
    "finetune.test_clips=2", "finetune.milestones=[10]",
]


def _write_spec(tmp_path: Path, evaluations: list[str]) -> Path:
    spec = {
        "name": "tiny",
        "base": "base.yaml",
        "overrides": ["loss.rate=0"],
        "evaluations": evaluations,
        "out_dir": str(tmp_path / "runs"),
        "methods": [
            {"name": "order", "overrides": ["loss.contrastive=0"]},
            {"name": "random", "pretrain": False, "label": "random init"},
        ],
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"name": "x"}))
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_tiny_comparison_writes_table_and_chart_then_resumes(tmp_path, monkeypatch) -> None:
    spec = load_compare(_write_spec(tmp_path, ["pretext", "retrieval", "probe", "finetune"]))
    # A pretraining stopped mid-epoch (as by Ctrl-C) is resumed, not restarted.
    from vidssl.train.pretrain import pretrain

    pretrain(method_config(spec, spec.methods[0], TINY), progress=False, stop_after_steps=1)
    logs: list[str] = []
    rows, paths = run_compare(spec, TINY, progress=False, log=logs.append)
    assert any("resuming at epoch 0" in line for line in logs)
    assert [r["name"] for r in rows] == ["order", "random"]
    order, random = rows
    assert 0.0 <= order["pretext"]["order_acc"] <= 1.0
    assert "pretext" not in random  # random init has no pretext model
    for row in rows:
        assert 0.0 <= row["retrieval"]["top1"] <= row["retrieval"]["top5"] <= 1.0
        assert 0.0 <= row["probe"]["accuracy"] <= 1.0
        assert 0.0 <= row["finetune"]["video_top1"] <= 1.0
    assert order["gmacs"] > 0
    table = paths["md"].read_text()
    assert starts_with_markdown_table(table), table[:400]
    assert "| order |" in table and "| random init |" in table
    assert "order acc" in table and "retr. top-1" in table and "fine-tune" in table
    assert paths["png"].stat().st_size > 1000

    # Second run: nothing is trained or evaluated again, the same numbers come back.
    def boom(*args, **kwargs):
        raise AssertionError("a finished method ran again")

    monkeypatch.setattr("vidssl.train.pretrain.pretrain", boom)
    monkeypatch.setattr("vidssl.train.finetune.finetune", boom)
    monkeypatch.setattr("vidssl.eval.features.extract_features", boom)
    logs.clear()
    rows2, _ = run_compare(spec, TINY, progress=False, log=logs.append)
    assert any("pretraining: done" in line for line in logs)
    assert rows2[0]["retrieval"]["top1"] == order["retrieval"]["top1"]
    assert rows2[1]["finetune"] == random["finetune"]

    # A changed pretraining config is refused (the folder would mix two experiments).
    with pytest.raises(CompareError, match="--redo order"):
        run_compare(spec, [*TINY, "optim.lr=0.5"], progress=False, log=logs.append)


def test_table_marks_missing_metrics() -> None:
    rows = [
        {"name": "a", "pretext": {"order_acc": 0.5}, "retrieval": {"top1": 0.25, "top5": 0.5}},
        {"name": "b", "label": "B", "retrieval": {"top1": 0.1, "top5": 0.3}, "gmacs": 1.5},
    ]
    table = markdown_table(rows, "t")
    assert "| a | 50.0 | 25.0 | 50.0 | – |" in table
    assert "| B | – | 10.0 | 30.0 | 1.5 |" in table


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "extra": 1}, "unknown key"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}],
          "evaluations": ["accuracy"]}, "evaluations"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}, {"name": "a"}]}, "duplicate"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a/b"}]}, "folder"),
        ({"base": "x", "methods": [{"name": "a"}]}, "'out_dir' is required"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a", "view": True}]},
         "no top-level 'view'"),
    ],
)
def test_malformed_compare_files_are_rejected(tmp_path, raw, message) -> None:
    (tmp_path / "x").write_text("name: x\n")
    with pytest.raises(CompareError, match=message):
        parse_compare(raw, tmp_path / "cmp.yaml")


def test_a_bad_row_fails_before_anything_runs(tmp_path) -> None:
    spec = load_compare(_write_spec(tmp_path, ["retrieval"]))
    spec.methods[1].overrides = ["sampler.n_segments=9"]
    spec.methods[1].pretrain = True
    with pytest.raises(CompareError, match="method 'random'.*n_segments"):
        run_compare(spec, TINY, progress=False, log=lambda s: None)
    assert not (tmp_path / "runs" / "order").exists()


SHIPPED = sorted((PACKAGE_CONFIGS / "compare").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_compare_configs_are_valid(path: Path) -> None:
    spec = load_compare(path)
    if spec.view is not None:
        view_config(spec)
    configs = [method_config(spec, m) for m in spec.methods]  # every row validates
    assert len({c.train.out_dir for c in configs}) == len(configs)


def test_table_viii_costs_on_r2plus1d() -> None:
    """The paper's Table VIII measure: VCOP runs 3 clips, ours(order) one (R(2+1)D, 112x112)."""
    base = ["model.backbone=r2plus1d", "sampler.clip_len=16", "data.crop=112"]
    vcop = training_cost(load_config(None, [*base, "loss.method=vcop"]))["gmacs"]
    order = training_cost(load_config(None, [*base, "loss.rate=0", "loss.contrastive=0"]))
    assert order["gmacs"] == pytest.approx(21.5, rel=0.02)
    assert vcop == pytest.approx(3 * order["gmacs"], rel=0.01)
