"""``vidssl export``: writes the checked file and names it, refuses clobbering, a missing
head and missing packages in one line, leaving nothing half written."""

from __future__ import annotations

import sys

import torch
from helpers import write_tiny_checkpoint

from vidssl.cli import main


def test_export_command_writes_checks_and_refuses_to_clobber(tmp_path, capsys):
    ckpt = write_tiny_checkpoint(tmp_path / "checkpoint.pt")
    args = ["export", "--checkpoint", str(ckpt), "--format", "torchscript"]
    assert main(args) == 0
    written = tmp_path / "checkpoint-features.torchscript.pt"
    out = capsys.readouterr().out
    assert str(written) in out and "max abs difference from PyTorch" in out
    before = written.read_bytes()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err and written.read_bytes() == before
    assert main([*args, "--overwrite", "--head"]) == 0
    assert (tmp_path / "checkpoint-projection.torchscript.pt").is_file()
    # user mistakes: one line, exit code 2, nothing written
    state = torch.load(ckpt, weights_only=True)
    state["model"] = {k: v for k, v in state["model"].items() if "projection." not in k}
    torch.save(state, tmp_path / "noproj.pt")
    capsys.readouterr()
    assert main(["export", "--checkpoint", str(tmp_path / "noproj.pt"), "--format",
                 "torchscript", "--head"]) == 2
    assert "no projection head or classifier" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "nope.pt"), "--format",
                 "torchscript"]) == 2
    assert not list(tmp_path.glob("noproj*.pt.json")) and not list(tmp_path.glob(".*tmp"))


def test_onnx_without_its_packages_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    ckpt = write_tiny_checkpoint(tmp_path / "checkpoint.pt")
    assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "vidssl: exporting to ONNX needs onnx and onnxruntime: pip install 'vidssl[onnx]'"]
    assert not list(tmp_path.glob("*.onnx"))
