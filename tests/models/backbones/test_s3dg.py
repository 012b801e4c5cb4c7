"""S3D-G: 9.6M parameters at width 1 with its projection (512-d), and without it the 1024-d
body Pace uses (9.1M)."""

from __future__ import annotations

import pytest

from vidssl.models.flops import backbone_cost


def test_width1_params_match_the_paper() -> None:
    cost = backbone_cost("s3dg")
    assert cost.params == pytest.approx(9.6e6, rel=0.03)
    assert cost.feature_dim == 512


def test_s3dg_without_projection_is_pace_body() -> None:
    cost = backbone_cost("s3dg", proj_dim=0)
    assert cost.feature_dim == 1024
    assert cost.params == pytest.approx(9.1e6, rel=0.03)
