"""View-module training on tiny synthetic data: exact mid-epoch resume, refusals, overwrite,
stop messages (the commands end to end: tests/commands/test_view.py)."""

from __future__ import annotations

import csv

import torch
from helpers import VIEW_TINY

from vidssl.cli import main
from vidssl.config import load_config
from vidssl.train.checkpoint import load_checkpoint


def test_demo_config_loads() -> None:
    cfg = load_config("configs/view/demo.yaml")
    assert cfg.data.dataset == "synthetic" and cfg.view.extractor == "random"
    cfg = load_config("configs/view/ucf101.yaml")
    assert cfg.train.out_dir == "runs/view/ucf101"


def _weights(path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint(path)
    return {**{f"g.{k}": v for k, v in ckpt["generator"].items()},
            **{f"o.{k}": v for k, v in ckpt["flow"].items()}}


def test_view_resume_mid_epoch_equals_uninterrupted(tmp_path) -> None:
    """A view training stopped inside an epoch (as Ctrl-C would) and resumed with --resume
    ends with the same G and O, bit for bit, and the same per-epoch rows except seconds."""
    from vidssl.train.loop import Interrupted
    from vidssl.train.view import train_view

    cfg = load_config("configs/view/demo.yaml", VIEW_TINY + ["train.steps_per_epoch=3"])
    straight = train_view(cfg, tmp_path / "a", progress=False)
    stopped = train_view(cfg, tmp_path / "b", progress=False, stop_after_steps=4)
    assert load_checkpoint(stopped)["epoch_step"] == 1  # the middle of epoch 2
    try:  # an unfinished run is refused without --resume, naming it
        train_view(cfg, tmp_path / "b", progress=False)
        raise AssertionError("a second fresh run into the folder was not refused")
    except Exception as exc:  # noqa: BLE001
        assert "--resume" in str(exc) and not isinstance(exc, Interrupted)
    resumed = main(["pretrain-view", "--config", "configs/view/demo.yaml", "--no-progress",
                    "--out", str(tmp_path / "b"), "--resume", str(stopped), *VIEW_TINY,
                    "train.steps_per_epoch=3"])
    assert resumed == 0
    a, b = _weights(straight), _weights(stopped)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = {}
    for run in ("a", "b"):
        with (tmp_path / run / "view_metrics.csv").open() as fh:
            rows[run] = [{k: v for k, v in r.items() if k != "seconds"}
                         for r in csv.DictReader(fh)]
    assert [int(float(r["epoch"])) for r in rows["b"]] == [1, 2]
    assert rows["b"] == rows["a"]  # epoch 2's means over all its steps, before and after


def test_view_checkpoint_without_optimizer_state_is_refused_for_resume(tmp_path, capsys) -> None:
    """A view checkpoint written before pretrain-view could resume cannot continue exactly:
    one line says so (exit 2), nothing is trained."""
    from vidssl.train.view import train_view

    cfg = load_config("configs/view/demo.yaml", VIEW_TINY + ["train.epochs=1"])
    path = train_view(cfg, tmp_path / "v", progress=False)
    ckpt = load_checkpoint(path)
    for key in ("optimizer", "flow_optimizer", "scheduler", "epoch_step", "rng", "kind"):
        ckpt.pop(key)
    torch.save(ckpt, path)
    code = main(["pretrain-view", "--config", "configs/view/demo.yaml", "--no-progress",
                 "--out", str(tmp_path / "v"), "--resume", str(path), *VIEW_TINY])
    assert code == 2
    assert "no optimizer state" in capsys.readouterr().err


def test_view_overwrite_deletes_only_the_old_runs_files_and_says_so(tmp_path, capsys) -> None:
    """--overwrite follows pretrain's rule (one place: run_dir.start_fresh): the earlier
    run's own files go, named on stderr; anything else in the folder stays."""
    out = tmp_path / "v"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"an earlier view module")
    (out / "view_metrics.csv").write_text("epoch,loss\n1,0.5\n2,0.4\n3,0.3\n")
    (out / "notes.txt").write_text("mine")
    code = main(["pretrain-view", "--config", "configs/view/demo.yaml", "--no-progress",
                 "--out", str(out), "--overwrite", *VIEW_TINY, "train.epochs=1"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"--overwrite: deleted the earlier run in {out} (checkpoint.pt, view_metrics.csv)" \
        in err
    assert (out / "notes.txt").read_text() == "mine"
    assert len((out / "view_metrics.csv").read_text().strip().splitlines()) == 2


def test_a_stopped_view_training_says_how_to_resume(tmp_path, capsys, monkeypatch) -> None:
    from vidssl.train.loop import StopRequest

    class StopAtOnce(StopRequest):  # Ctrl-C before the first step: stop after it
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.requested = True

    monkeypatch.setattr("vidssl.train.loop.StopRequest", StopAtOnce)
    out = tmp_path / "v"
    code = main(["pretrain-view", "--config", "configs/view/demo.yaml", "--no-progress",
                 "--out", str(out), *VIEW_TINY])
    assert code == 130
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"vidssl: stopped; resume with --resume {out}/checkpoint.pt"
    assert load_checkpoint(out / "checkpoint.pt")["epoch_step"] == 1
