"""Order, rate and projection heads: output shapes and the documented layer structure."""

from __future__ import annotations

import pytest
import torch

from vidssl.models.flops import count_params
from vidssl.models.heads import OrderHead, ProjectionHead, RateHead


def test_order_head_is_two_linear_layers_by_default() -> None:
    head = OrderHead(64, 6, hidden=32)
    assert count_params(head) == 64 * 32 + 32 + 32 * 6 + 6
    assert not any(isinstance(m, (torch.nn.ReLU, torch.nn.Dropout)) for m in head.modules())
    assert head(torch.randn(5, 64)).shape == (5, 6)


def test_order_head_optional_nonlinearity() -> None:
    head = OrderHead(64, 24, hidden=32, relu=True, dropout=0.5)
    kinds = {type(m) for m in head.modules()}
    assert torch.nn.ReLU in kinds and torch.nn.Dropout in kinds
    assert head(torch.randn(3, 64)).shape == (3, 24)


def test_rate_head_modes() -> None:
    r = torch.randn(4, 64)
    assert RateHead(64, 3)(r).shape == (4, 3)
    cls = RateHead(64, 3, mode="classification", num_rates=8)
    assert cls(r).shape == (4, 3, 8)
    with pytest.raises(ValueError):
        RateHead(64, 3, mode="ordinal")


def test_projection_head() -> None:
    head = ProjectionHead(512, 512, 129)
    assert count_params(head) == 512 * 512 + 512 + 512 * 129 + 129
    assert head(torch.randn(2, 512)).shape == (2, 129)
