"""Video backbones behind one registry: ``build_backbone("r3d", width=0.25)``.

Importing this package registers the built-in families (c3d, r3d, r2plus1d, s3dg); each module
documents its layout and where it departs from the reference code.
"""

from vidssl.models.backbones.c3d import C3D
from vidssl.models.backbones.r3d import VideoResNet
from vidssl.models.backbones.registry import (
    build_backbone,
    list_backbones,
    register_backbone,
    scale_channels,
)
from vidssl.models.backbones.s3dg import S3DG

__all__ = [
    "C3D",
    "S3DG",
    "VideoResNet",
    "build_backbone",
    "list_backbones",
    "register_backbone",
    "scale_channels",
]
