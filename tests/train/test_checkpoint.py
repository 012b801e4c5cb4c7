"""Checkpoints: written atomically, read without running code, refused in one line when they
are of another kind, damaged or not vidssl's; the backbone, head and view module rebuilt from
what they store."""

from __future__ import annotations

import pickle

import pytest
import torch

from vidssl.config import load_config
from vidssl.errors import CheckpointError
from vidssl.models.backbones import build_backbone
from vidssl.models.view_synthesis import ViewSynthesis
from vidssl.train.checkpoint import (
    checkpoint_epoch,
    checkpoint_head,
    load_backbone,
    load_checkpoint,
    load_view_generator,
    load_view_module,
    load_weights,
    save_checkpoint,
)

TINY = ["model.backbone=r3d", "model.width=0.125"]


def _pretrain_ckpt(tmp_path, **extra):
    cfg = load_config(None, TINY)
    net = build_backbone("r3d", width=0.125)
    state = {"kind": "pretrain", "config": cfg.to_dict(), "backbone": net.state_dict(),
             "model": {}, "epoch": 3, "step": 9, **extra}
    return save_checkpoint(state, tmp_path / "checkpoint.pt"), net


def test_save_then_load_backbone_gives_the_same_weights(tmp_path) -> None:
    path, net = _pretrain_ckpt(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary left
    back, cfg = load_backbone(path)
    assert cfg.model.width == 0.125 and not back.training
    for (k, a), b in zip(net.state_dict().items(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert checkpoint_epoch(path) == 3


def test_unreadable_and_foreign_files_are_one_line(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_checkpoint(tmp_path / "empty.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="top level is list"):
        load_checkpoint(tmp_path / "list.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("ran code",))


def test_a_file_holding_python_objects_is_refused_without_running_them(tmp_path, capsys):
    with (tmp_path / "evil.pt").open("wb") as fh:
        pickle.dump({"x": _Evil()}, fh, protocol=2)
    with pytest.raises(CheckpointError, match="not a readable vidssl checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "ran code" not in capsys.readouterr().out


def test_another_kind_is_named_with_the_command_that_wrote_it(tmp_path) -> None:
    path, _ = _pretrain_ckpt(tmp_path)
    with pytest.raises(CheckpointError, match="pretraining checkpoint.*'vidssl pretrain'.*"
                                              "view-synthesis checkpoint"):
        load_checkpoint(path, kind="view")


def test_weights_that_do_not_fit_are_named(tmp_path) -> None:
    net = build_backbone("r3d", width=0.125)
    state = dict(net.state_dict())
    state.pop(next(iter(state)))
    with pytest.raises(CheckpointError, match="1 missing"):
        load_weights(net, state, "x.pt", "backbone")
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_weights(net, [1], "x.pt", "backbone")


def test_head_of_a_finetuning_and_its_absence(tmp_path) -> None:
    w, b = torch.randn(5, 8), torch.randn(5)
    head, output = checkpoint_head({"model": {"classifier.weight": w, "classifier.bias": b}})
    assert output == "logits" and torch.equal(head.weight, w)
    with pytest.raises(CheckpointError, match="no projection head or classifier"):
        checkpoint_head({"model": {}}, "p.pt")


def test_the_view_module_is_read_once_with_its_config(tmp_path) -> None:
    cfg = load_config(None, ["view.channels=4", "view.latent=4"])
    torch.manual_seed(0)
    module = ViewSynthesis(width=4, latent=4)
    path = save_checkpoint({"kind": "view", "config": cfg.to_dict(), "arch": module.arch(),
                            "generator": module.generator.state_dict(),
                            "flow": module.flow.state_dict()}, tmp_path / "view.pt")
    back, back_cfg = load_view_module(path)
    assert back_cfg.view.channels == 4
    x = torch.randn(1, 3, 4, 16, 16)
    gen, _ = load_view_generator(path, sample=False)
    torch.testing.assert_close(gen(x), module.generator(x, sample=False)[0])
    with pytest.raises(FileNotFoundError, match="view checkpoint not found"):
        load_view_module(tmp_path / "none.pt")
