"""``vidssl pretrain``: a run writes its checkpoint and says where; a method's config mistake is
one line and exit code 2 before the output folder is made."""

from __future__ import annotations

from helpers import COMPARE_TINY

from vidssl.cli import main
from vidssl.train.checkpoint import load_checkpoint


def test_pretrain_writes_a_checkpoint_and_names_it(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["pretrain", "--config", "configs/demo.yaml", "--out", str(out),
                 "--no-progress", *COMPARE_TINY, "train.eval_every=0"]) == 0
    assert f"checkpoint: {out / 'checkpoint.pt'}" in capsys.readouterr().out
    assert load_checkpoint(out / "checkpoint.pt", kind="pretrain")["epoch"] == 1
    assert (out / "config.yaml").is_file() and (out / "metrics.csv").is_file()


def test_a_methods_config_mistake_is_one_line_before_any_work(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["pretrain", "--config", "configs/demo.yaml", "--out", str(out),
                 "contrastive.queue_size=100"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["vidssl: contrastive.queue_size=100 must be a positive multiple of "
                   "train.batch_size=16"]
    assert not out.exists()
