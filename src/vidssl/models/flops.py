"""Parameter and multiply-accumulate (MAC) counts, as the paper reports them (Table VIII).

MACs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts convolutions
and matrix products (2 FLOPs per multiply-add) and ignores BatchNorm, ReLU and pooling, the
usual convention for "FLOPs" of CNNs; we report ``MACs = FLOPs / 2``. The model runs on the
``meta`` device, i.e. only shapes are propagated and nothing is computed, so counting a
38 GMAC network takes milliseconds and no memory, whatever device the model lives on.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from vidssl.models.backbones import build_backbone


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_macs(module: nn.Module, *input_shapes: Sequence[int], **kwargs: Any) -> int:
    """MACs of one call ``module(*inputs, **kwargs)`` on float inputs of these shapes."""
    inputs = tuple(torch.empty(tuple(s), device="meta") for s in input_shapes)
    return call_macs(module, *inputs, **kwargs)


def call_macs(module: nn.Module, *args: Any, **kwargs: Any) -> int:
    """MACs of one call ``module(*args, **kwargs)``; ``args`` may be any inputs the module
    takes (a dict batch of meta tensors, for a whole pretext model).

    The call runs in eval mode (restored afterwards) on meta copies of the parameters and
    buffers, so the module itself is untouched and may live on any device.
    """
    state = {
        name: torch.empty_like(t, device="meta")
        for name, t in itertools.chain(module.named_parameters(), module.named_buffers())
    }
    was_training = module.training
    module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            functional_call(module, state, args, kwargs)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops()) // 2


@dataclass(frozen=True)
class BackboneCost:
    """What ``vidssl info`` reports about a backbone at one input size."""

    name: str
    width: float
    input_shape: tuple[int, int, int, int, int]
    params: int
    macs: int
    feature_dim: int
    feature_map: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backbone_cost(
    name: str,
    width: float = 1.0,
    frames: int = 16,
    size: int = 112,
    in_channels: int = 3,
    **kwargs: Any,
) -> BackboneCost:
    """Params, MACs and output shapes of backbone ``name`` for one ``frames x size^2`` clip.

    The model is built on the meta device: no weights are allocated or initialised.
    """
    with torch.device("meta"):
        model = build_backbone(name, width=width, in_channels=in_channels, **kwargs)
    shape = (1, in_channels, frames, size, size)
    with torch.no_grad():
        fmap = model.eval().forward_features(torch.empty(shape, device="meta"))
    return BackboneCost(
        name=name,
        width=width,
        input_shape=shape,
        params=count_params(model),
        macs=count_macs(model, shape),
        feature_dim=int(model.feature_dim),
        feature_map=tuple(fmap.shape[1:]),
    )
