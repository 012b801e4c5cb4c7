"""BatchNorm over groups of a batch in one pass: MoCo's split-BN without a backbone pass per group.

Shuffle-BN (DESIGN section 3) normalises a batch of ``n`` clips in ``s`` groups, each with its own
statistics. Running the backbone once per group does that but costs ``s`` small passes where one
large pass would do (GPUs and compiled graphs lose most: 45 % of the step on an H200 with bf16
and ``torch.compile``). A :class:`SplitBatchNorm` layer instead normalises every group in one
``F.batch_norm`` call by viewing ``(n, C, ...)`` as ``(n / s, s * C, ...)``: channel ``g * C + c``
of that view holds channel ``c`` of the samples ``i`` with ``i % s == g`` (a free view for a
contiguous tensor). Every other layer of a backbone treats samples independently, so putting the
batch in the order that makes those strided groups the wanted groups before the backbone
(:func:`grouped_forward`) and back after gives the same outputs and gradients as the ``s`` passes.

What changes: the running statistics. ``s`` passes updated them ``s`` times a step, one group
after the other (with momentum ``m`` the last group weighs ``m``, the first ``m (1 - m)^(s-1)``);
one pass updates them once a step with the groups' average, as MoCo's own ``SplitBatchNorm``
does, and ``num_batches_tracked`` counts steps, not groups.

A layer takes part in the grouping through its ``bn_groups`` attribute (1: an ordinary layer);
:func:`grouped_forward` sets it for the duration of one call. :func:`convert` turns the
``nn.BatchNorm1d/2d/3d`` layers of a module into their split versions in place (same parameters,
buffers and ``state_dict`` keys, so checkpoints load either way).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class _SplitBatchNorm(_BatchNorm):
    """BatchNorm that, with ``bn_groups = s > 1`` while it uses batch statistics, normalises the
    ``s`` strided groups of its batch (sample ``i`` in group ``i % s``) each by its own
    statistics, in one call; running statistics take the groups' average, once per call."""

    bn_groups: int = 1

    def forward(self, x: Tensor) -> Tensor:
        s = self.bn_groups
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        if s <= 1 or not batch_stats:
            return super().forward(x)
        self._check_input_dim(x)
        n, c = x.shape[0], x.shape[1]
        if n % s:
            raise ValueError(f"a batch of {n} does not split into {s} equal BatchNorm groups")
        factor = 0.0 if self.momentum is None else self.momentum
        running = self.training and self.track_running_stats and self.running_mean is not None
        if running and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        mean = self.running_mean.repeat(s) if running else None  # type: ignore[union-attr]
        var = self.running_var.repeat(s) if running else None  # type: ignore[union-attr]
        weight = None if self.weight is None else self.weight.repeat(s)
        bias = None if self.bias is None else self.bias.repeat(s)
        out = F.batch_norm(x.reshape(n // s, s * c, *x.shape[2:]), mean, var, weight, bias,
                           True, factor, self.eps)
        if running:
            with torch.no_grad():  # each group moved its copy by the same factor: average them
                self.running_mean.copy_(mean.view(s, c).mean(0))  # type: ignore[union-attr]
                self.running_var.copy_(var.view(s, c).mean(0))  # type: ignore[union-attr]
        return out.reshape(x.shape)


class SplitBatchNorm1d(_SplitBatchNorm, nn.BatchNorm1d):
    """:class:`nn.BatchNorm1d` that can normalise groups of its batch (module docstring)."""


class SplitBatchNorm2d(_SplitBatchNorm, nn.BatchNorm2d):
    """:class:`nn.BatchNorm2d` that can normalise groups of its batch (module docstring)."""


class SplitBatchNorm3d(_SplitBatchNorm, nn.BatchNorm3d):
    """:class:`nn.BatchNorm3d` that can normalise groups of its batch (module docstring)."""


_SPLIT = {nn.BatchNorm1d: SplitBatchNorm1d, nn.BatchNorm2d: SplitBatchNorm2d,
          nn.BatchNorm3d: SplitBatchNorm3d}


def convert(module: nn.Module) -> nn.Module:
    """Every plain ``nn.BatchNorm1d/2d/3d`` of ``module`` (itself included) becomes its split
    version, in place: only the class changes, so parameters, buffers, hooks and ``state_dict``
    keys stay as they are, and with ``bn_groups`` at 1 each layer computes exactly what it did.
    Subclasses (``SyncBatchNorm``, a user's own BN) are left alone: :func:`group_layers` then
    reports that ``module`` cannot be grouped in one pass. Returns ``module``."""
    for sub in module.modules():
        split = _SPLIT.get(type(sub))
        if split is not None:
            sub.__class__ = split
    return module


def revert(module: nn.Module) -> nn.Module:
    """The inverse of :func:`convert`, in place: plain BatchNorm layers again, so
    ``moco.split_forward`` runs a backbone pass per group (what ``benchmarks/pretrain_step.py``
    measures the one pass against). Returns ``module``."""
    plain = {split: base for base, split in _SPLIT.items()}
    for sub in module.modules():
        base = plain.get(type(sub))
        if base is not None:
            sub.__class__ = base
    return module


def group_layers(modules: Sequence[nn.Module]) -> list[nn.Module] | None:
    """The layers of ``modules`` that take part in grouping (a ``bn_groups`` attribute), or None
    when one pass cannot reproduce per-group passes: no such layer (the modules may couple
    samples in ways this does not know) or a BatchNorm that cannot group."""
    layers = []
    for module in modules:
        for sub in module.modules():
            if hasattr(sub, "bn_groups"):
                layers.append(sub)
            elif isinstance(sub, _BatchNorm):
                return None
    return layers or None


@contextlib.contextmanager
def bn_groups(layers: Sequence[nn.Module], groups: int) -> Iterator[None]:
    """Set ``bn_groups = groups`` on ``layers`` for the duration of the block."""
    before = [layer.bn_groups for layer in layers]
    for layer in layers:
        layer.bn_groups = groups
    try:
        yield
    finally:
        for layer, value in zip(layers, before):
            layer.bn_groups = value


@functools.lru_cache(maxsize=16)
def group_orders(n: int, groups: int, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """``(order, back)``: ``x.index_select(0, order)`` puts the ``groups`` consecutive equal
    groups of ``x`` on the strided groups a :class:`SplitBatchNorm` normalises (group ``g`` at
    positions ``g, g + groups, ...``); ``y.index_select(0, back)`` undoes it. Made once per
    (batch, groups, device): the training step need not rebuild them."""
    i = torch.arange(n, device=device)
    return i.view(groups, n // groups).t().reshape(-1), i.view(n // groups, groups).t().reshape(-1)


def grouped_forward(fn: Callable[[Tensor], Tensor], x: Tensor, groups: int,
                    layers: Sequence[nn.Module],
                    orders: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """``fn(x)`` with its BN ``layers`` normalising the ``groups`` consecutive equal groups of
    ``x`` each by its own statistics: one pass, same outputs as ``fn`` on each group apart.
    ``orders``: :func:`group_orders` of ``x``, when the caller keeps them."""
    if x.shape[0] % groups:
        raise ValueError(f"a batch of {x.shape[0]} does not split into {groups} equal groups")
    order, back = orders if orders is not None else group_orders(x.shape[0], groups, x.device)
    with bn_groups(layers, groups):
        out = fn(x.index_select(0, order))
    return out.index_select(0, back)
