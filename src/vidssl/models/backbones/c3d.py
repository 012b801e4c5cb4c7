"""C3D with BatchNorm (Tran et al. 2015, in the variant used by VCOP and the paper).

Eight 3x3x3 convolutions in five stages; max pooling halves space after every stage and time
after stages 2-4; the last stage is global-average pooled (VCOP's ``pool5``) instead of the
original fc6/fc7, which is why the backbone is 27.7M parameters rather than 78M.

Differences from VCOP's code, kept on purpose: convolutions have no bias, since every one is
followed by BatchNorm which adds its own shift (the bias would be a wasted parameter and op,
2.9k parameters in all), and ``pool5`` is a plain mean.
"""

from __future__ import annotations

import torch
from torch import nn

from vidssl.models.backbones.registry import register_backbone, scale_channels


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [
        nn.Conv3d(cin, cout, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    ]


class C3D(nn.Module):
    """C3D-BN backbone: ``(B, C, T, H, W) -> (B, 512 * width)``.

    Spatial stride 16 and temporal stride 8 in all: a 16x112x112 clip ends as a 2x7x7 map,
    a 16x32x32 clip as 2x2x2. T must be a multiple of 8 to keep every frame in the pools.
    """

    def __init__(self, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (scale_channels(c, width) for c in (64, 128, 256, 512, 512))
        self.feature_dim = c5
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, c1),
            nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2)),
            *_conv_bn_relu(c1, c2),
            nn.MaxPool3d(kernel_size=2, stride=2),
            *_conv_bn_relu(c2, c3),
            *_conv_bn_relu(c3, c3),
            nn.MaxPool3d(kernel_size=2, stride=2),
            *_conv_bn_relu(c3, c4),
            *_conv_bn_relu(c4, c4),
            nn.MaxPool3d(kernel_size=2, stride=2),
            *_conv_bn_relu(c4, c5),
            *_conv_bn_relu(c5, c5),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The conv5b map after ReLU, ``(B, feature_dim, T/8, H/16, W/16)``."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pooled conv5b feature, ``(B, feature_dim)``."""
        return self.features(x).mean(dim=(2, 3, 4))


@register_backbone("c3d")
def c3d(width: float = 1.0, in_channels: int = 3) -> C3D:
    """C3D with BatchNorm; 27.7M parameters and 38.6 GMACs per 16x112x112 clip at width 1."""
    return C3D(width=width, in_channels=in_channels)
