"""R3D and R(2+1)D (one module, the residual family): the paper's sizes at width 1 (R3D 14.2M
/ 19.9 GMACs, R(2+1)D 14.4M / 21.5 GMACs per 16x112x112 clip), the demo's channels at width
1/4, and R(2+1)D's conv5 map on the meta device."""

from __future__ import annotations

import pytest
import torch

from vidssl.models.backbones import build_backbone
from vidssl.models.flops import backbone_cost


@pytest.mark.parametrize("name, params, macs", [("r3d", 14.2e6, 19.9e9),
                                                ("r2plus1d", 14.4e6, 21.5e9)])
def test_width1_params_and_macs_match_the_paper(name: str, params: float, macs: float) -> None:
    cost = backbone_cost(name)
    assert cost.params == pytest.approx(params, rel=0.03)
    assert cost.macs == pytest.approx(macs, rel=0.05)
    assert cost.feature_dim == 512


def test_quarter_width_r3d_channels() -> None:
    net = build_backbone("r3d", width=0.25)
    widths = [stage[0].conv2.out_channels for stage in net.stages]
    assert widths == [16, 32, 64, 128]
    assert net.feature_dim == 128


def test_width1_forward_on_meta_device() -> None:
    with torch.device("meta"):
        net = build_backbone("r2plus1d")
        fmap = net.forward_features(torch.empty(1, 3, 16, 112, 112))
    assert tuple(fmap.shape) == (1, 512, 2, 7, 7)
