"""The method registry: what each pretext method provides, looked up by the config's ``method:``.

Why a registry and not ``if method == ...`` chains: the method is named by a string in a config,
and before this module four files compared that string (the config check, the model and dataset
factory, the baselines' dispatch, the cost counter). Now each method's own module states, in one
:func:`register_method` decorator on its model class, everything the rest of vidssl needs:

- ``model``: ``from_config(cfg) -> nn.Module`` (the class's ``from_config``), a model with
  ``forward(batch) -> (loss, metrics)``, ``after_step()`` and the encoder under ``.backbone``;
- ``dataset``: ``(cfg, source, transform, seed) -> Dataset`` of that method's training samples;
- ``example_batch``: ``(cfg, batch_size) -> batch`` of random tensors with the shapes, dtypes and
  label ranges of a real batch (benchmarks and the cost counter, no video read);
- ``uses_queue``: the model holds a MoCo key queue when ``loss.contrastive > 0`` (then the
  queue's own config check applies); ``view_keys``: synthesized views can serve as its keys;
- ``check``: the method's own config checks (see :func:`check_config`).

Adding a method: write its module (model class + ``from_config`` + dataset + example batch,
decorated with :func:`register_method`), add the module's name to
:data:`vidssl.method.METHOD_MODULES`, and write a config that says ``method: <name>``. Besides
the method modules, only ``vidssl info`` names a method (VCOP's head, for its cost line).

Checks that need a method's knowledge (is the name registered, the queue's size, the method's
own ``check``) live here, with the methods, not in :mod:`vidssl.config`: the config loader stays
below the methods (reading a YAML file imports no torch and no method module). They run right
after the file is parsed, before any work, wherever a config is about to train a method:
:func:`vidssl.train.pretrain.pretrain`, ``vidssl compare`` (every row, before anything runs) and
``vidssl demo`` call :func:`check_config`.

This module stays light (no torch at import; of vidssl only ``vidssl.config`` and
``vidssl.errors``). The method modules are imported on the first lookup, by name, by the
package (``vidssl.method.load_methods``, as ``vidssl.cli`` imports its command modules): they
import this module to register, and this module imports none of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidssl.config import METHOD_ALIASES as ALIASES
from vidssl.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor, nn

    from vidssl.config import Config


@dataclass(frozen=True)
class Method:
    """One registered pretext method (see the module docstring for each field)."""

    name: str
    model: Callable[[Config], nn.Module]
    dataset: Callable[[Config, Any, Any, int], Any]
    example_batch: Callable[[Config, int], dict[str, Tensor]]
    uses_queue: bool = False
    view_keys: bool = False
    check: Callable[[Config], None] | None = None


_REGISTRY: dict[str, Method] = {}


def register_method(
    name: str,
    *,
    dataset: Callable[[Config, Any, Any, int], Any],
    example_batch: Callable[[Config, int], dict[str, Tensor]],
    uses_queue: bool = False,
    view_keys: bool = False,
    check: Callable[[Config], None] | None = None,
) -> Callable[[type], type]:
    """Class decorator: register the model class (built by its ``from_config``) as ``name``."""

    def deco(cls: type) -> type:
        entry = Method(name, cls.from_config, dataset, example_batch,  # type: ignore[attr-defined]
                       uses_queue, view_keys, check)
        old = _REGISTRY.get(name)
        if old is not None and old.model.__qualname__ != entry.model.__qualname__:
            raise ValueError(f"method '{name}' is already registered")
        _REGISTRY[name] = entry
        return cls

    return deco


def _load_all() -> None:
    """Import every method module (they register themselves); the list is the package's."""
    import vidssl.method

    vidssl.method.load_methods()


def list_methods() -> list[str]:
    """Registered method names, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get_method(name: str) -> Method:
    """The registry entry of ``name`` (an alias is accepted), or a ConfigError listing them."""
    _load_all()
    name = ALIASES.get(name, name)
    if name not in _REGISTRY:
        raise ConfigError(f"method: unknown method '{name}' (known: {', '.join(list_methods())})")
    return _REGISTRY[name]


def check_config(cfg: Config) -> None:
    """The checks of ``cfg`` that need the configured method: its name is registered, its own
    ``check``, and the queue's when it holds one (a :class:`~vidssl.errors.ConfigError` naming
    the key). Call it right after loading a config that will train a method."""
    method = get_method(cfg.method)
    if method.uses_queue and cfg.loss.contrastive > 0:
        from vidssl.method.moco import check_queue

        check_queue(cfg.contrastive.queue_size, cfg.train.batch_size)
        _warn_single_sample_bn_groups(cfg)
    if method.check is not None:
        method.check(cfg)


_warned_bn_batches: set[tuple[int, int]] = set()


def _warn_single_sample_bn_groups(cfg: Config) -> None:
    """One line (once per batch size and process) when ``key_bn: shuffle`` with automatic
    ``bn_splits`` must normalise each query by the statistics of a single clip: the fewest BN
    groups that keep a query's and its key's groups apart (``moco.bn_splits_for``) are groups
    of one sample for a batch size with no small divisor (a prime such as 13). It trains, but
    per-sample statistics are not what MoCo's shuffled BN intends."""
    c, batch = cfg.contrastive, cfg.train.batch_size
    if c.key_bn != "shuffle" or c.bn_splits:
        return
    from vidssl.method.moco import bn_splits_for

    world = max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))  # set by torchrun
    if batch // bn_splits_for(batch, world) > 1 or (batch, world) in _warned_bn_batches:
        return
    _warned_bn_batches.add((batch, world))
    near = [n for n in (batch - batch % 4, batch - batch % 4 + 4) if n >= 4]
    print(f"vidssl: warning: train.batch_size={batch} splits into BatchNorm groups of 1 "
          "sample for MoCo's shuffled key BN (contrastive.key_bn=shuffle); choose a batch "
          f"size with a small divisor, e.g. a multiple of 4 ({' or '.join(map(str, near))})",
          file=sys.stderr)


def build_model(cfg: Config) -> nn.Module:
    """The trainable model of the configured method."""
    return get_method(cfg.method).model(cfg)


def build_pretext_dataset(cfg: Config, split: str = "train", train: bool = True) -> Any:
    """The Dataset the configured method trains on (``split`` train) or is scored on (test).

    The video source, the clip transform (augmentation only when ``train``) and the seed are the
    same for every method (an evaluation split gets its own seed stream); the method decides
    how clips are drawn and labelled.
    """
    from vidssl.data.layouts import build_source
    from vidssl.data.transforms import ClipTransform

    source = build_source(cfg.data, split)
    transform = ClipTransform.from_config(cfg.data, train=train)
    seed = cfg.train.seed if train else cfg.train.seed + 10_007
    return get_method(cfg.method).dataset(cfg, source, transform, seed)


def example_batch(cfg: Config, batch_size: int) -> dict[str, Tensor]:
    """A random batch of ``batch_size`` samples shaped like the configured method's real ones."""
    return get_method(cfg.method).example_batch(cfg, batch_size)
