"""``vidssl pretrain-view`` then ``vidssl show-view`` end to end on tiny synthetic data: the
checkpoint, the CSV log, the frozen G read back with its config, and the picture."""

from __future__ import annotations

import csv

import torch
from helpers import VIEW_TINY

from vidssl.cli import main
from vidssl.train.checkpoint import load_checkpoint, load_view_generator, load_view_module


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
                *VIEW_TINY,
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
