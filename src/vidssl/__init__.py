"""vidssl: self-supervised video representation learning (segment order, sampling rate,
shuffle-similarity MoCo, view-synthesis keys).

The Python API (see README "Use from Python")::

    import vidssl
    enc = vidssl.load_encoder("runs/r3d/checkpoint.pt")
    features = enc.embed(["a.mp4", "b.mp4"])          # (2, D), as `vidssl extract` computes them
    vidssl.export_encoder(enc, "r3d.onnx", "onnx")     # what `vidssl export` does

The names below are imported on first use, so ``import vidssl`` and ``vidssl --help`` stay fast
(torch is not imported until an API name is touched).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vidssl.version import __version__

if TYPE_CHECKING:
    from vidssl.api import Encoder, load_encoder
    from vidssl.data.video import VideoError
    from vidssl.errors import CheckpointError
    from vidssl.eval.features import FeatureSet
    from vidssl.export import ExportResult, export_encoder

# public name -> the module that defines it
_LAZY = {
    "Encoder": "vidssl.api",
    "load_encoder": "vidssl.api",
    "export_encoder": "vidssl.export",
    "ExportResult": "vidssl.export",
    "FeatureSet": "vidssl.eval.features",
    "CheckpointError": "vidssl.errors",
    "VideoError": "vidssl.data.video",
}

__all__ = [
    "CheckpointError",
    "Encoder",
    "ExportResult",
    "FeatureSet",
    "VideoError",
    "__version__",
    "export_encoder",
    "load_encoder",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vidssl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
