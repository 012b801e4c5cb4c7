"""pretrain-view end to end on tiny synthetic data: checkpoint, CSV log, frozen G, show-view."""

from __future__ import annotations

import csv

import torch

from vidssl.cli import main
from vidssl.config import load_config
from vidssl.train.checkpoint import load_checkpoint, load_view_generator, load_view_module

TINY = [
    "data.dataset=synthetic",
    "data.synthetic.variant=direction",
    "data.synthetic.size=16",
    "data.synthetic.min_frames=12",
    "data.synthetic.max_frames=12",
    "data.synthetic.train_per_class=1",
    "data.synthetic.test_per_class=1",
    "data.input=diff",
    "data.resize=[16,16]",
    "data.crop=16",
    "data.num_workers=0",
    "sampler.clip_len=6",
    "sampler.n_segments=2",
    "model.backbone=r3d",
    "model.width=0.125",
    "view.channels=4",
    "view.latent=4",
    "optim.name=adamw",
    "train.epochs=2",
    "train.batch_size=2",
    "train.steps_per_epoch=2",
    "train.threads=1",
]


def test_pretrain_view_then_show_view(tmp_path, capsys) -> None:
    out = tmp_path / "view"
    assert (
        main(
            [
                "pretrain-view",
                "--config",
                "configs/view/demo.yaml",
                "--no-progress",
                "--out",
                str(out),
                *TINY,
            ]
        )
        == 0
    )
    path = out / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 2 and ckpt["step"] == 4
    assert ckpt["config"]["view"]["channels"] == 4
    with (out / "view_metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(float(r["epoch"])) for r in rows] == [1, 2]
    for key in ("photo", "kl", "infomax", "infomin", "loss"):
        assert all(torch.isfinite(torch.tensor(float(r[key]))) for r in rows), key

    # The lead's pretraining uses G through load_view_generator: shape kept, no graph.
    gen, view_cfg = load_view_generator(path, "cpu")
    assert view_cfg.view.channels == 4  # the checkpoint's own config, read with it
    x = torch.randn(2, 3, 6, 16, 16)
    assert gen(x).shape == x.shape
    module, _ = load_view_module(path)
    assert module.flow(x).shape == (2, 2, 5, 16, 16)

    png = tmp_path / "view.png"
    args = ["show-view", "--checkpoint", str(path), "synthetic:test:0", "--png", str(png)]
    assert main(args) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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

    cfg = load_config("configs/view/demo.yaml", TINY + ["train.steps_per_epoch=3"])
    straight = train_view(cfg, tmp_path / "a", progress=False)
    stopped = train_view(cfg, tmp_path / "b", progress=False, stop_after_steps=4)
    assert load_checkpoint(stopped)["epoch_step"] == 1  # the middle of epoch 2
    try:  # an unfinished run is refused without --resume, naming it
        train_view(cfg, tmp_path / "b", progress=False)
        raise AssertionError("a second fresh run into the folder was not refused")
    except Exception as exc:  # noqa: BLE001
        assert "--resume" in str(exc) and not isinstance(exc, Interrupted)
    resumed = main(["pretrain-view", "--config", "configs/view/demo.yaml", "--no-progress",
                    "--out", str(tmp_path / "b"), "--resume", str(stopped), *TINY,
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

    cfg = load_config("configs/view/demo.yaml", TINY + ["train.epochs=1"])
    path = train_view(cfg, tmp_path / "v", progress=False)
    ckpt = load_checkpoint(path)
    for key in ("optimizer", "flow_optimizer", "scheduler", "epoch_step", "rng", "kind"):
        ckpt.pop(key)
    torch.save(ckpt, path)
    code = main(["pretrain-view", "--config", "configs/view/demo.yaml", "--no-progress",
                 "--out", str(tmp_path / "v"), "--resume", str(path), *TINY])
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
                 "--out", str(out), "--overwrite", *TINY, "train.epochs=1"])
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
                 "--out", str(out), *TINY])
    assert code == 130
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"vidssl: stopped; resume with --resume {out}/checkpoint.pt"
    assert load_checkpoint(out / "checkpoint.pt")["epoch_step"] == 1
