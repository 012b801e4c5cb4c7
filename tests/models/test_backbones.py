"""Backbones: the paper's sizes at width 1, shapes at small widths, registry behaviour."""

from __future__ import annotations

import pytest
import torch

from vidssl.config import ConfigError
from vidssl.models.backbones import build_backbone, list_backbones
from vidssl.models.flops import backbone_cost, count_macs, count_params

NAMES = ["c3d", "r3d", "r2plus1d", "s3dg"]

# Paper / DESIGN section 2: backbone parameters and Table VIII MACs for one 16x112x112 clip.
PAPER_PARAMS = {"c3d": 27.7e6, "r3d": 14.2e6, "r2plus1d": 14.4e6, "s3dg": 9.6e6}
PAPER_MACS = {"c3d": 38.6e9, "r3d": 19.9e9, "r2plus1d": 21.5e9}


def test_registry_lists_the_four_families() -> None:
    assert set(NAMES) <= set(list_backbones())


@pytest.mark.parametrize("name", NAMES)
def test_width1_params_match_paper(name: str) -> None:
    cost = backbone_cost(name)
    assert cost.params == pytest.approx(PAPER_PARAMS[name], rel=0.03)
    assert cost.feature_dim == 512


@pytest.mark.parametrize("name", sorted(PAPER_MACS))
def test_width1_macs_match_table_viii(name: str) -> None:
    assert backbone_cost(name).macs == pytest.approx(PAPER_MACS[name], rel=0.05)


def test_s3dg_without_projection_is_pace_body() -> None:
    cost = backbone_cost("s3dg", proj_dim=0)
    assert cost.feature_dim == 1024
    assert cost.params == pytest.approx(9.1e6, rel=0.03)


def test_quarter_width_r3d_channels() -> None:
    net = build_backbone("r3d", width=0.25)
    widths = [stage[0].conv2.out_channels for stage in net.stages]
    assert widths == [16, 32, 64, 128]
    assert net.feature_dim == 128


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


def test_width1_forward_on_meta_device() -> None:
    with torch.device("meta"):
        net = build_backbone("r2plus1d")
        fmap = net.forward_features(torch.empty(1, 3, 16, 112, 112))
    assert tuple(fmap.shape) == (1, 512, 2, 7, 7)


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
