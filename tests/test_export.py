"""``vidssl.export_encoder``: the written ONNX and TorchScript models give PyTorch's numbers
(to 1e-4) for any batch size, for every backbone, with the head appended and described (the
command: tests/commands/test_export.py)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from helpers import write_tiny_checkpoint

import vidssl


def _run_exported(path, fmt: str, x: torch.Tensor) -> np.ndarray:
    """Run the file with its own runtime, as a serving process would (no vidssl code)."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"clips": x.numpy()})[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript
        return torch.jit.load(str(path))(x).detach().numpy()


def _needs(fmt: str) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("backbone", ["c3d", "r3d", "r2plus1d", "s3dg"])
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_model_matches_pytorch_for_any_batch(backbone, fmt, tmp_path):
    _needs(fmt)
    enc = vidssl.load_encoder(write_tiny_checkpoint(tmp_path / "c.pt", backbone=backbone), "cpu")
    res = vidssl.export_encoder(enc, tmp_path / f"m.{fmt}", fmt)
    assert res.max_abs_diff <= 1e-4 and res.input_shape == ["batch", 3, 8, 32, 32]
    gen = torch.Generator().manual_seed(7)
    for batch in (1, 5):  # neither is the traced batch (2)
        x = torch.randn(batch, *enc.clip_shape, generator=gen)
        np.testing.assert_allclose(_run_exported(res.path, fmt, x), enc.embed(x).numpy(),
                                   rtol=1e-4, atol=1e-4)
    meta = json.loads(res.metadata_path.read_text())
    assert meta["output"] == {"name": "features", "shape": ["batch", enc.feature_dim],
                              "dtype": "float32"}
    assert meta["preprocessing"]["frames_per_clip"] == 8 and meta["check"]["batch"] == 3


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_head_is_appended_and_described_in_the_file(fmt, tmp_path):
    _needs(fmt)
    x = torch.randn(4, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    for kind, output in (("pretrain", "projection"), ("finetune", "logits")):
        enc = vidssl.load_encoder(write_tiny_checkpoint(tmp_path / f"{kind}.pt", kind), "cpu")
        res = vidssl.export_encoder(enc, tmp_path / f"{kind}.{fmt}", fmt, head=True)
        with torch.no_grad():
            want = enc.head(enc.embed(x)).numpy()
        assert res.output_name == output and res.output_shape == ["batch", want.shape[1]]
        np.testing.assert_allclose(_run_exported(res.path, fmt, x), want, rtol=1e-4,
                                   atol=1e-4)
        if fmt == "onnx":
            import onnx

            props = {p.key: p.value for p in onnx.load(str(res.path)).metadata_props}
        else:
            props = {"vidssl.json": ""}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.load(str(res.path), _extra_files=props)
            props = {"vidssl": props["vidssl.json"]}
        assert json.loads(props["vidssl"])["output"]["name"] == output
