"""Data set layouts: how each data set's videos and split files lie on disk, one file each.

``build_source(data_cfg, split)`` looks ``data.dataset`` up in :data:`LAYOUTS` and returns the
split's :class:`~vidssl.data.records.VideoSource`. A new layout is one module with a
``(data_cfg, split) -> VideoSource`` function and one entry in :data:`LAYOUTS`: the table is the
one list of data set names (the config check of ``data.dataset``, the evaluation commands'
``--dataset`` choices and loader-worker defaults all read it). Importing it stays light (no
torch), so the config loader can read the names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidssl.data.layouts import folder, hmdb51, kinetics400, synthetic, ucf101, unlabeled
from vidssl.data.layouts.files import SplitFileError
from vidssl.data.records import VideoSource
from vidssl.errors import ConfigError
from vidssl.resources import resolve_workers

if TYPE_CHECKING:
    import torch

__all__ = ["LAYOUTS", "Layout", "SplitFileError", "build_source", "data_workers", "has_split",
           "labelled_datasets"]


def _no_val(data_cfg: Any) -> bool:
    return False


@dataclass(frozen=True)
class Layout:
    """One ``data.dataset``: its source builder, whether it has a val split, and what the
    rest of vidssl needs to know about it without building it."""

    source: Callable[[Any, str], VideoSource]
    has_val: Callable[[Any], bool] = _no_val
    labelled: bool = True  # videos carry class labels (evaluation needs them)
    numbered_splits: bool = False  # official splits 1-3 chosen by data.split
    in_memory: bool = False  # generated in memory, not decoded from files


def _folder_has_val(data_cfg: Any) -> bool:
    return bool(data_cfg.val_list)


LAYOUTS: dict[str, Layout] = {
    "synthetic": Layout(synthetic.source, synthetic.has_val, in_memory=True),
    "ucf101": Layout(ucf101.ucf101_source, numbered_splits=True),
    "hmdb51": Layout(hmdb51.hmdb51_source, numbered_splits=True),
    "kinetics400": Layout(kinetics400.kinetics400_source),
    "folder": Layout(folder.folder_source, _folder_has_val),
    "unlabeled": Layout(unlabeled.unlabeled_source, labelled=False),
}


def labelled_datasets() -> tuple[str, ...]:
    """The ``data.dataset`` names whose videos carry labels (what evaluation can score)."""
    return tuple(name for name, layout in LAYOUTS.items() if layout.labelled)


def data_workers(data_cfg: Any, device: str | torch.device = "cpu",
                 num_workers: int | None = None) -> int:
    """:func:`vidssl.resources.resolve_workers` for a config's ``data`` section (whether the
    layout holds its videos in memory or reads files); ``num_workers`` replaces
    ``data.num_workers`` when given."""
    n = data_cfg.num_workers if num_workers is None else num_workers
    layout = LAYOUTS.get(data_cfg.dataset)
    return resolve_workers(n, device, in_memory=layout is not None and layout.in_memory)


def has_split(data_cfg: Any, split: str) -> bool:
    """Whether the configured data set has ``split``. Every one has train and test; a val split
    (for model selection) is held by the synthetic data (unless ``val_per_class`` is 0) and by
    a folder data set with ``data.val_list``. The official UCF101/HMDB51/Kinetics splits have
    none: carve one from train with a folder list if you need it."""
    if split != "val":
        return split in ("train", "test", "all")
    layout = LAYOUTS.get(data_cfg.dataset)
    return layout is not None and layout.has_val(data_cfg)


def build_source(data_cfg: Any, split: str = "train") -> VideoSource:
    """The videos of ``data_cfg.dataset`` for ``split`` ("train", "test", "val" or "all")."""
    if split not in ("train", "test", "val", "all"):
        raise ValueError(f"split must be train, test, val or all; got {split!r}")
    if not has_split(data_cfg, split):
        raise ConfigError(f"data.dataset={data_cfg.dataset} has no val split (synthetic: "
                          "data.synthetic.val_per_class > 0; folder: data.val_list)")
    if data_cfg.dataset not in LAYOUTS:
        raise ConfigError(f"unknown data.dataset {data_cfg.dataset!r}")
    return LAYOUTS[data_cfg.dataset].source(data_cfg, split)
