"""Where tensors run: the device a config names, and moving a batch onto it.

One rule for every entry point (pretraining, fine-tuning, evaluation, the API, ``vidssl view``):
``auto`` means the first GPU when there is one, and asking for a device the machine lacks is a
one-line error naming ``train.device``.
"""

from __future__ import annotations

from typing import Any

import torch

from vidssl.config import check_device
from vidssl.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` (or "") picks CUDA when present; an explicit CUDA request without a GPU is an
    error rather than a silent fall-back to the CPU (a run meant for a GPU would take days)."""
    name = name or "auto"
    check_device("train.device", name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name}, but CUDA is not available on this machine "
                          "(use cpu or auto)")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"train.device={name}, but this machine has "
                          f"{torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"train.device={name}, but MPS is not available on this machine")
    return dev


def batch_to_device(batch: dict[str, Any], device: torch.device,
                    channels_last: bool = False) -> dict[str, Any]:
    """Move a batch (non-blocking from pinned memory on GPU); 5-D clips to channels_last_3d."""
    nb = device.type == "cuda"
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=nb)
            if channels_last and v.dim() == 5 and v.is_floating_point():
                v = v.contiguous(memory_format=torch.channels_last_3d)
        out[k] = v
    return out
