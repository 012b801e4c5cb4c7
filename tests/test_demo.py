"""``vidssl demo`` end to end on a tiny budget: the table, the report, reuse of finished work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import starts_with_markdown_table

from vidssl.cli import main

TINY = [
    "train.epochs=1",
    "train.eval_every=1",
    "finetune.epochs=1",
    "data.synthetic.train_per_class=2",
    "data.synthetic.test_per_class=1",
    "data.synthetic.min_frames=40",
    "data.synthetic.max_frames=48",
    "data.num_workers=0",
    "model.width=0.125",
    "contrastive.queue_size=16",
    "eval.clips=2",
    "finetune.test_clips=2",
]


@pytest.mark.slow
def test_demo_prints_table_and_writes_report(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path), "--no-progress", *TINY]) == 0
    printed = capsys.readouterr().out
    for metric in ("retrieval top-1", "retrieval top-5", "linear probe", "fine-tune top-1"):
        assert metric in printed
    assert "| metric | random init | pretrained | gain (points) |" in printed
    report = (tmp_path / "demo.md").read_text()
    # what matters first: the results table right under the title, a real table (not a list
    # item), seconds as minutes and seconds, percentages with one decimal
    assert starts_with_markdown_table(report), report[:400]
    assert report.index("| metric |") < report.index(".png")
    assert "- |" not in report
    assert re.search(r"\| pretrain_seconds \| (\d+ min )?\d+ s \|", report)
    assert "| chance | 10.0 % |" in report
    for png in ("pretrain_curves.png", "tsne_pretrained.png", "retrieval_random_init.png"):
        assert (tmp_path / png).is_file() and png in report
    # a second run reuses the finished pretraining instead of training again
    before = (tmp_path / "pretrain" / "checkpoint.pt").stat().st_mtime_ns
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--no-finetune", *TINY]) == 0
    assert (tmp_path / "pretrain" / "checkpoint.pt").stat().st_mtime_ns == before


@pytest.mark.parametrize("variant", ["scene", "real"])
def test_demo_runs_the_realistic_variants(tmp_path: Path, capsys, variant: str) -> None:
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--no-finetune",
                 "--variant", variant, *TINY]) == 0
    assert f"synthetic '{variant}' videos" in capsys.readouterr().out + (
        tmp_path / "demo.md").read_text()


def test_pretraining_rate_counts_the_last_run_in_the_folder(tmp_path: Path) -> None:
    from vidssl.demo import _clips_per_second

    csv = tmp_path / "metrics.csv"
    # an earlier run's rows, then a new run from step 0: only the last run's epochs count
    csv.write_text("epoch,step,seconds\n1,25,99\n2,50,99\n1,25,4\n2,50,6\n")
    assert _clips_per_second(csv, 16) == 50 * 16 / 10


def test_demo_resumes_then_reuses_a_pretraining_and_refuses_another(tmp_path: Path) -> None:
    """The demo decides with ``vidssl compare``'s rule (train.pretrain.ensure_pretrained): a stopped
    pretraining is resumed, a finished one reused untouched, another experiment refused in one
    line naming the differing key; evaluation settings do not count."""
    from vidssl.config import load_config
    from vidssl.demo import _pretrained_checkpoint
    from vidssl.errors import RunDirError
    from vidssl.train.checkpoint import load_checkpoint
    from vidssl.train.pretrain import pretrain

    tiny = [o for o in TINY if not o.startswith("train.epochs")] + [
        "train.epochs=2", "train.steps_per_epoch=2", "train.eval_every=0", "train.threads=1",
        f"train.out_dir={tmp_path / 'pretrain'}"]
    cfg = load_config("configs/demo.yaml", tiny)
    path = pretrain(cfg, progress=False, stop_after_steps=3)
    assert load_checkpoint(path)["epoch"] == 1
    assert _pretrained_checkpoint(cfg, progress=False) == path
    assert load_checkpoint(path)["epoch"] == 2
    stamp = path.stat().st_mtime_ns
    other_eval = load_config("configs/demo.yaml", tiny + ["eval.clips=3"])
    assert _pretrained_checkpoint(other_eval, progress=False) == path
    assert path.stat().st_mtime_ns == stamp  # reused, not trained again
    with pytest.raises(RunDirError, match=r"optim.lr.*--out"):
        _pretrained_checkpoint(load_config("configs/demo.yaml", tiny + ["optim.lr=0.5"]),
                               progress=False)
