"""The backbone registry: every backbone is a function of its config (timm style).

Why a registry and not an ``if name == ...`` chain: configs name the backbone as a string
(``model.backbone``), and a user can add a network by decorating one builder function with
``@register_backbone("name")`` without touching the training code.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from vidssl.errors import ConfigError

BackboneBuilder = Callable[..., nn.Module]

_REGISTRY: dict[str, BackboneBuilder] = {}


def register_backbone(name: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator that makes ``builder(width=..., **kwargs)`` available as ``name``."""

    def deco(builder: BackboneBuilder) -> BackboneBuilder:
        if name in _REGISTRY and _REGISTRY[name] is not builder:
            raise ValueError(f"backbone '{name}' is already registered")
        _REGISTRY[name] = builder
        return builder

    return deco


def list_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(_REGISTRY)


def build_backbone(name: str, width: float = 1.0, **kwargs: Any) -> nn.Module:
    """Build backbone ``name`` at channel multiplier ``width``.

    The module has ``.feature_dim``, ``forward(x (B,C,T,H,W)) -> (B, feature_dim)`` (global
    average pooled) and ``forward_features(x) -> (B, C', t, h, w)`` (the last conv map).
    ``kwargs`` are the builder's extra options (``model.backbone_args`` in a config), e.g.
    ``in_channels``. Bad names and options raise :class:`ConfigError` naming the config key.
    """
    if name not in _REGISTRY:
        raise ConfigError(
            f"model.backbone: unknown backbone '{name}' (known: {', '.join(list_backbones())})"
        )
    if not width > 0:
        raise ConfigError(f"model.width must be > 0; got {width}")
    builder = _REGISTRY[name]
    try:
        # Check the options against the signature first, so a TypeError raised *inside* the
        # model code is not mistaken for a bad config option.
        inspect.signature(builder).bind(width=width, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"model.backbone_args for '{name}': {exc}") from exc
    return builder(width=width, **kwargs)


def scale_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1.

    Plain rounding (no multiple-of-8 snapping) keeps the quarter-width nets exactly a quarter
    (R3D 16-32-64-128 at width 0.25), which is what the CPU demo and FINDINGS.md measure.
    """
    return max(1, int(round(channels * width)))
