"""S3D-G (Xie et al. 2018) as in the Pace code the paper builds on, plus a 512-d projection.

Inception-style blocks whose 3x3x3 convolutions are separable (1x3x3 spatial, BN, ReLU, 3x1x1
temporal, BN, ReLU) and whose branch outputs are gated by a sigmoid of their own spatiotemporal
mean ("self-gating"). The body ends in ``mixed_5c`` with 1024 channels (9.1M parameters).

Output size, our choice: the paper's pipeline wants a 512-d vector like the other backbones,
so a 1x1x1 convolution projects ``mixed_5c`` to ``512 * width`` channels. That is Pace's final
``fc`` layer moved in front of the pooling, and it is what makes the paper's 9.6M
(9.1M + 1024 x 512 + 512). ``forward`` pools first and applies the same weights as a linear
map (pooling and a 1x1x1 convolution commute), so the projection costs no MACs per position.
``proj_dim=0`` keeps the raw 1024-d (x width) feature.

Max pools use TensorFlow "SAME" output sizes (``ceil(n / stride)``) as the original, with
symmetric padding; the stem is the non-space-to-depth 3x7x7 stride-2 convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.models.backbones.r3d import Conv2Plus1d
from vidssl.models.backbones.registry import register_backbone, scale_channels


class STConv3d(nn.Sequential):
    """Conv-BN-ReLU; ``separable`` splits a ``t x k x k`` kernel into spatial then temporal."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: tuple[int, int, int],
        stride: tuple[int, int, int] = (1, 1, 1),
        padding: tuple[int, int, int] = (0, 0, 0),
        separable: bool = False,
    ) -> None:
        if separable:
            layers: list[nn.Module] = [Conv2Plus1d(cin, cout, kernel, stride, padding, mid=cout)]
        else:
            layers = [nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)]
        super().__init__(*layers, nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class SelfGating(nn.Module):
    """``x * sigmoid(W mean_thw(x) + b)``: a per-clip, per-channel gate."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))
        return x * gate[:, :, None, None, None]


class InceptionBlock(nn.Module):
    """Four branches: 1x1x1; 1x1x1 -> sep 3x3x3; 1x1x1 -> sep 3x3x3; maxpool -> 1x1x1."""

    def __init__(
        self, cin: int, b0: int, b1a: int, b1b: int, b2a: int, b2b: int, b3: int, gating: bool
    ) -> None:
        super().__init__()
        one, three, pad = (1, 1, 1), (3, 3, 3), (1, 1, 1)
        self.branch0 = STConv3d(cin, b0, one)
        self.branch1 = nn.Sequential(
            STConv3d(cin, b1a, one), STConv3d(b1a, b1b, three, padding=pad, separable=True)
        )
        self.branch2 = nn.Sequential(
            STConv3d(cin, b2a, one), STConv3d(b2a, b2b, three, padding=pad, separable=True)
        )
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1), STConv3d(cin, b3, one))
        self.out_channels = b0 + b1b + b2b + b3
        self.gates = nn.ModuleList(SelfGating(c) for c in (b0, b1b, b2b, b3)) if gating else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]
        if self.gates is not None:
            outs = [g(o) for g, o in zip(self.gates, outs, strict=True)]
        return torch.cat(outs, dim=1)


# (b0, b1a, b1b, b2a, b2b, b3) per inception block, from the I3D/S3D papers.
_MIXED = {
    "3b": (64, 96, 128, 16, 32, 32),
    "3c": (128, 128, 192, 32, 96, 64),
    "4b": (192, 96, 208, 16, 48, 64),
    "4c": (160, 112, 224, 24, 64, 64),
    "4d": (128, 128, 256, 24, 64, 64),
    "4e": (112, 144, 288, 32, 64, 64),
    "4f": (256, 160, 320, 32, 128, 128),
    "5b": (256, 160, 320, 32, 128, 128),
    "5c": (384, 192, 384, 48, 128, 128),
}


class S3DG(nn.Module):
    """S3D-G backbone: ``(B, C, T, H, W) -> (B, 512 * width)`` (or 1024 * width unprojected).

    Strides: 8 in time, 32 in space (ceil), so 16x112x112 ends as 2x4x4 and 16x32x32 as 2x1x1.
    """

    def __init__(
        self,
        width: float = 1.0,
        in_channels: int = 3,
        gating: bool = True,
        proj_dim: int = 512,
    ) -> None:
        super().__init__()

        def s(c: int) -> int:
            return scale_channels(c, width)

        c64, c192 = s(64), s(192)
        body: list[nn.Module] = [
            STConv3d(in_channels, c64, (3, 7, 7), stride=(2, 2, 2), padding=(1, 3, 3)),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            STConv3d(c64, c64, (1, 1, 1)),
            STConv3d(c64, c192, (3, 3, 3), padding=(1, 1, 1), separable=True),
        ]
        if gating:
            body.append(SelfGating(c192))
        body.append(nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
        cin = c192
        for name, chans in _MIXED.items():
            if name == "4b":
                body.append(nn.MaxPool3d(3, stride=2, padding=1))
            elif name == "5b":
                body.append(nn.MaxPool3d(2, stride=2, ceil_mode=True))
            block = InceptionBlock(cin, *(s(c) for c in chans), gating=gating)
            body.append(block)
            cin = block.out_channels
        self.body = nn.Sequential(*body)
        self.proj: nn.Conv3d | None = None
        self.feature_dim = cin
        if proj_dim:
            self.feature_dim = s(proj_dim)
            self.proj = nn.Conv3d(cin, self.feature_dim, kernel_size=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The (projected) mixed_5c map, ``(B, feature_dim, ceil(T/8), ceil(H/32), ...)``."""
        x = self.body(x)
        return self.proj(x) if self.proj is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pooled feature, ``(B, feature_dim)``; projects after pooling."""
        x = self.body(x).mean(dim=(2, 3, 4))
        if self.proj is not None:
            x = F.linear(x, self.proj.weight.flatten(1), self.proj.bias)
        return x


@register_backbone("s3dg")
def s3dg(
    width: float = 1.0, in_channels: int = 3, gating: bool = True, proj_dim: int = 512
) -> S3DG:
    """S3D-G with self-gating; 9.6M parameters with the 1024 -> 512 projection, 9.1M without."""
    return S3DG(width=width, in_channels=in_channels, gating=gating, proj_dim=proj_dim)
