"""C3D at width 1 has the paper's size: 27.7M parameters, 38.6 GMACs per 16x112x112 clip
(DESIGN section 2, Table VIII), and a 512-d pooled feature."""

from __future__ import annotations

import pytest
import torch

from vidssl.models.backbones import build_backbone
from vidssl.models.flops import backbone_cost


def test_width1_params_and_macs_match_the_paper() -> None:
    cost = backbone_cost("c3d")
    assert cost.params == pytest.approx(27.7e6, rel=0.03)
    assert cost.macs == pytest.approx(38.6e9, rel=0.05)
    assert cost.feature_dim == 512


def test_narrow_c3d_keeps_the_clip_shape_contract() -> None:
    net = build_backbone("c3d", width=0.125).eval()
    with torch.no_grad():
        fmap = net.forward_features(torch.randn(1, 3, 16, 32, 32))
    assert fmap.shape[:2] == (1, net.feature_dim) and net.feature_dim == 64
