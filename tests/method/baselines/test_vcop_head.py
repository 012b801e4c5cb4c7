"""VCOP head: its size follows its definition and a tuple costs n backbone passes."""

from __future__ import annotations

import pytest
import torch

from vidssl.method.baselines.vcop import VCOPHead
from vidssl.models.backbones import build_backbone
from vidssl.models.flops import count_macs, count_params


@pytest.mark.parametrize("n", [2, 3, 4])
def test_param_count_is_its_definition(n: int) -> None:
    d, hidden = 512, 512
    pairs = n * (n - 1) // 2
    classes = {2: 2, 3: 6, 4: 24}[n]
    head = VCOPHead(d, n)
    expected = (2 * d * hidden + hidden) + (hidden * pairs * classes + classes)
    assert count_params(head) == expected
    assert head(torch.randn(5, n, d)).shape == (5, classes)


def test_pairs_are_ordered_and_shared() -> None:
    torch.manual_seed(0)
    head = VCOPHead(8, 3, hidden=4, dropout=0.0).eval()
    f = torch.randn(2, 3, 8)
    # Swapping two clips changes the logits: the head sees which clip came first.
    assert not torch.allclose(head(f), head(f[:, [1, 0, 2]]))


def test_vcop_macs_are_n_backbone_passes() -> None:
    with torch.device("meta"):
        backbone = build_backbone("c3d")
    head = VCOPHead(backbone.feature_dim, 3)
    one_clip = count_macs(backbone, (1, 3, 16, 112, 112))
    tuple_macs = 3 * one_clip + count_macs(head, (1, 3, backbone.feature_dim))
    assert tuple_macs == pytest.approx(115.8e9, rel=0.05)  # Table VIII, VCOP with C3D
    assert tuple_macs == pytest.approx(3 * one_clip, rel=0.01)
