"""The backbone registry: every family builds by name, gives the shapes evaluation relies on
(pooled = mean of the conv5 map), trains, and a wrong name or option names the config key.
Each family's own sizes (the paper's, at width 1) are in its mirrored test file."""

from __future__ import annotations

import pytest
import torch

from vidssl.config import ConfigError
from vidssl.models.backbones import build_backbone, list_backbones
from vidssl.models.flops import count_macs, count_params

NAMES = ["c3d", "r3d", "r2plus1d", "s3dg"]



def test_registry_lists_the_four_families() -> None:
    assert set(NAMES) <= set(list_backbones())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [32, 64])
def test_forward_shapes_quarter_width(name: str, size: int) -> None:
    torch.manual_seed(0)
    net = build_backbone(name, width=0.25).eval()
    batch = 2 if size == 32 else 1  # keeps the 64x64 cases cheap
    x = torch.randn(batch, 3, 16, size, size)
    with torch.no_grad():
        feat = net(x)
        fmap = net.forward_features(x)
    assert feat.shape == (batch, net.feature_dim)
    assert fmap.shape[:3] == (batch, net.feature_dim, 2)
    assert fmap.shape[3] == fmap.shape[4] == size // (32 if name == "s3dg" else 16)
    # forward is the global average of forward_features (S3D-G projects after pooling).
    torch.testing.assert_close(feat, fmap.mean(dim=(2, 3, 4)), rtol=1e-4, atol=1e-5)
    assert torch.isfinite(feat).all()


@pytest.mark.parametrize("name", NAMES)
def test_in_channels_and_backward(name: str) -> None:
    net = build_backbone(name, width=0.125, in_channels=1)
    x = torch.randn(2, 1, 8, 32, 32)
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_unknown_backbone_and_option_name_the_config_key() -> None:
    with pytest.raises(ConfigError, match="model.backbone"):
        build_backbone("resnet9000")
    with pytest.raises(ConfigError, match="model.backbone_args"):
        build_backbone("r3d", width=0.25, no_such_option=1)


def test_count_macs_leaves_module_usable() -> None:
    net = build_backbone("r3d", width=0.125).train()
    macs = count_macs(net, (1, 3, 16, 32, 32))
    assert macs > 0 and net.training
    assert all(p.device.type == "cpu" for p in net.parameters())
    assert count_params(net) == sum(p.numel() for p in net.parameters())
