"""R3D and R(2+1)D: the small video ResNets of VCOP and the paper (one basic block per stage).

Both share one ResNet body and differ only in the convolution: R3D uses full 3x3x3 kernels,
R(2+1)D factors each ``t x k x k`` kernel into a ``1 x k x k`` spatial convolution to ``M``
channels, BatchNorm + ReLU, then a ``t x 1 x 1`` temporal convolution, with Tran et al.'s rule
``M = floor(t k^2 N_in N_out / (k^2 N_in + t N_out))`` so the factored layer has about the
parameters of the full one (and one more non-linearity).

Layout (VCOP's, for a 16x112x112 clip): stem 3x7x7 stride (1,2,2) -> 64 ch 16x56x56; stages of
64, 128, 256, 512 channels, stages 3-5 halve time and space in their first block
(conv5 map 2x7x7); global average pooling -> 512-d. ``layers`` sets the blocks per stage:
``(1, 1, 1, 1)`` is the paper's (R3D 14.4M parameters, 19.9 GMACs), ``(2, 2, 2, 2)`` is
ResNet-18-3D.

Kept on purpose, against VCOP's code: the stride-2 shortcut is a plain 1x1x1 convolution
(+BatchNorm) in both variants; VCOP's R(2+1)D also factors that 1x1x1 shortcut, which only adds
an extra BatchNorm/ReLU pair and changes nothing measurable (0.1% of the parameters).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vidssl.models.backbones.registry import register_backbone, scale_channels

Triple = tuple[int, int, int]


def _triple(v: int | Sequence[int]) -> Triple:
    if isinstance(v, int):
        return (v, v, v)
    a, b, c = v
    return (int(a), int(b), int(c))


def mid_channels(cin: int, cout: int, kernel: Triple) -> int:
    """Tran et al.'s (2+1)D intermediate width: matches the parameters of the full 3D kernel."""
    t, h, w = kernel
    return max(1, (t * h * w * cin * cout) // (h * w * cin + t * cout))


class Conv2Plus1d(nn.Sequential):
    """``t x k x k`` convolution factored as spatial ``1 x k x k`` -> BN -> ReLU -> temporal.

    ``mid`` channels between the two: Tran et al.'s rule by default (R(2+1)D); S3D-G's
    separable convolutions keep ``cout``.
    """

    def __init__(
        self, cin: int, cout: int, kernel: Triple, stride: Triple, padding: Triple,
        mid: int | None = None,
    ) -> None:
        mid = mid or mid_channels(cin, cout, kernel)
        super().__init__(
            nn.Conv3d(
                cin,
                mid,
                (1, kernel[1], kernel[2]),
                stride=(1, stride[1], stride[2]),
                padding=(0, padding[1], padding[2]),
                bias=False,
            ),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(
                mid,
                cout,
                (kernel[0], 1, 1),
                stride=(stride[0], 1, 1),
                padding=(padding[0], 0, 0),
                bias=False,
            ),
        )


def _conv(
    factored: bool, cin: int, cout: int, kernel: Triple, stride: Triple, padding: Triple
) -> nn.Module:
    if factored:
        return Conv2Plus1d(cin, cout, kernel, stride, padding)
    return nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the (projected when strided) input, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, factored: bool) -> None:
        super().__init__()
        s = _triple(stride)
        k, p, one = (3, 3, 3), (1, 1, 1), (1, 1, 1)
        self.conv1 = _conv(factored, cin, cout, k, s, p)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = _conv(factored, cout, cout, k, one, p)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv3d(cin, cout, 1, stride=s, bias=False), nn.BatchNorm3d(cout)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class VideoResNet(nn.Module):
    """The ResNet body shared by R3D (``factored=False``) and R(2+1)D (``factored=True``)."""

    def __init__(
        self,
        factored: bool,
        width: float = 1.0,
        in_channels: int = 3,
        layers: Sequence[int] = (1, 1, 1, 1),
    ) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be 4 block counts >= 1; got {list(layers)}")
        chans = [scale_channels(c, width) for c in (64, 128, 256, 512)]
        self.feature_dim = chans[-1]
        self.stem = nn.Sequential(
            _conv(factored, in_channels, chans[0], (3, 7, 7), (1, 2, 2), (1, 3, 3)),
            nn.BatchNorm3d(chans[0]),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        cin = chans[0]
        for i, (cout, n_blocks) in enumerate(zip(chans, layers, strict=True)):
            blocks = [BasicBlock(cin, cout, 1 if i == 0 else 2, factored)]
            blocks += [BasicBlock(cout, cout, 1, factored) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The conv5 map, ``(B, feature_dim, ceil(T/8), ceil(H/16), ceil(W/16))``."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pooled conv5 feature, ``(B, feature_dim)``."""
        return self.forward_features(x).mean(dim=(2, 3, 4))


@register_backbone("r3d")
def r3d(
    width: float = 1.0, in_channels: int = 3, layers: Sequence[int] = (1, 1, 1, 1)
) -> VideoResNet:
    """R3D, one basic block per stage: 14.4M parameters, 19.9 GMACs per 16x112x112 clip."""
    return VideoResNet(False, width=width, in_channels=in_channels, layers=layers)


@register_backbone("r2plus1d")
def r2plus1d(
    width: float = 1.0, in_channels: int = 3, layers: Sequence[int] = (1, 1, 1, 1)
) -> VideoResNet:
    """R(2+1)D, one basic block per stage: 14.4M parameters, 21.5 GMACs per 16x112x112 clip."""
    return VideoResNet(True, width=width, in_channels=in_channels, layers=layers)
