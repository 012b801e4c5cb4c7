"""One device rule for every entry point, and moving a batch onto the device."""

from __future__ import annotations

import pytest
import torch

from vidssl.config import ConfigError
from vidssl.devices import batch_to_device, resolve_device


def test_auto_and_cpu_and_mistakes() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("").type == expected  # the API's "no preference"
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="train.device must be"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_batch_to_device_moves_tensors_and_keeps_the_rest() -> None:
    batch = {"clip": torch.zeros(2, 3, 4, 5, 5), "order": torch.tensor([1, 2]), "name": "x"}
    out = batch_to_device(batch, torch.device("cpu"), channels_last=True)
    assert out["name"] == "x" and out["order"].tolist() == [1, 2]
    assert out["clip"].is_contiguous(memory_format=torch.channels_last_3d)
    assert batch_to_device(batch, torch.device("cpu"))["clip"].is_contiguous()
