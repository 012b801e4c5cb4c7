"""The evaluation protocols, in one table: name -> how to run it, its result columns, and
whether it needs class labels.

Why a table: ``vidssl compare`` (its ``evaluations:`` list, the columns of its table and chart),
``vidssl demo`` (what it scores both networks with) and the evaluation commands (which data sets
they accept) all ask the same questions about a protocol. Before the table each asked in its own
if/elif, so a new protocol meant edits in four files. Now a new protocol is its module (under
:mod:`vidssl.eval`, or wherever its work lives) and one :data:`PROTOCOLS` entry.

A runner takes a :class:`Scoring` (the config, the held-out split, the network, the shared
features) and returns a JSON-ready dict whose keys the protocol's :class:`Column` s name. The
table is read by ``vidssl --help`` (through the commands), so it stays light: each runner imports
its evaluation code when it runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidssl.config import Config

if TYPE_CHECKING:
    from torch import nn

    from vidssl.eval.features import FeatureSet


@dataclass
class Scoring:
    """One network's evaluation on one held-out split: what every runner may use.

    ``backbone()`` gives a fresh copy of the evaluated network (a protocol that trains it, such
    as fine-tuning, must not change the one the others read); ``features(split)`` gives the
    ``(train, split)`` features, extracted once and shared by every protocol that reads them.
    """

    cfg: Config
    split: str  # "val" or "test": the videos scored
    backbone: Callable[[], nn.Module]
    features: Callable[[str], tuple[FeatureSet, FeatureSet]]
    out_dir: Path  # where a protocol that writes files (fine-tuning) writes them
    checkpoint: Path | None = None  # the pretraining checkpoint; None: random init
    sources: tuple[Any, Any] | None = None  # (train, test) video sources already built
    grid: Path | None = None  # retrieval: also draw queries and their top-3 here
    level: str | None = None  # retrieval: video or clip (default: eval.level)
    progress: bool = True

    @property
    def random_init(self) -> bool:
        return self.checkpoint is None


@dataclass(frozen=True)
class Column:
    """One column of a results table: ``title`` shows ``result[key] * scale`` with ``fmt``."""

    title: str
    key: str
    scale: float = 100.0  # accuracies in percent, as the paper prints them
    fmt: str = "{:.1f}"
    chart: bool = False  # drawn in compare's bar chart


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol (see the module docstring)."""

    run: Callable[[Scoring], dict[str, Any]]
    columns: tuple[Column, ...]
    needs_labels: bool = True
    splits: tuple[str, ...] = ("val", "test")  # the held-out splits it scores
    pretrained_only: bool = False  # random init has nothing to score
    describe: Callable[[Config, str], str] = lambda cfg, split: split  # a log line's text


def _pretext(s: Scoring) -> dict[str, Any]:
    """Held-out pretext metrics of the pretraining checkpoint's whole model (eval mode)."""
    from vidssl.devices import resolve_device
    from vidssl.method.registry import build_model, build_pretext_dataset
    from vidssl.train.checkpoint import load_checkpoint, load_weights
    from vidssl.train.pretrain import evaluate_pretext

    assert s.checkpoint is not None
    device = resolve_device(s.cfg.train.device)
    model = build_model(s.cfg)
    load_weights(model, load_checkpoint(s.checkpoint, map_location="cpu",
                                        kind="pretrain").get("model"), s.checkpoint, "model")
    dataset = build_pretext_dataset(s.cfg, split=s.split, train=False)
    metrics = evaluate_pretext(model.to(device), dataset, s.cfg, device)
    return {k.removeprefix("val_"): v for k, v in metrics.items()}


def _retrieval(s: Scoring) -> dict[str, Any]:
    """Nearest-neighbour retrieval (DESIGN 7): the split's videos query the train videos."""
    from vidssl.eval.retrieval import evaluate_retrieval

    train, held_out = s.features(s.split)
    train_source, test_source = s.sources or (None, None)
    return evaluate_retrieval(None, s.cfg, train_features=train, test_features=held_out,
                              train_source=train_source, test_source=test_source,
                              level=s.level, grid=s.grid, progress=s.progress)


def _probe(s: Scoring) -> dict[str, Any]:
    """Linear probe: logistic regression fitted on the train features, scored on the split."""
    from vidssl.eval.probe import probe_features

    train, held_out = s.features(s.split)
    return probe_features(train, held_out, seed=s.cfg.train.seed)


def _finetune(s: Scoring) -> dict[str, Any]:
    """Fine-tuning, then 10-clip video top-1 on test (resumes a fine-tuning in ``out_dir``)."""
    from vidssl.train.finetune import finetune

    train_source, test_source = s.sources or (None, None)
    return finetune(copy.deepcopy(s.backbone()), s.cfg, out_dir=s.out_dir,
                    train_source=train_source, test_source=test_source, resume=True,
                    progress=s.progress, init="random" if s.random_init else "checkpoint")


PROTOCOLS: dict[str, Protocol] = {
    "pretext": Protocol(
        _pretext,
        (Column("order acc", "order_acc"), Column("rate MSE", "rate_mse", 1, "{:.2f}"),
         Column("rate acc", "rate_acc"), Column("contr. loss", "loss_contrastive", 1, "{:.2f}"),
         Column("contr. acc", "contrastive_acc"), Column("cls acc", "cls_acc")),
        needs_labels=False, pretrained_only=True,
        describe=lambda cfg, split: f"pretext metrics on held-out {split} clips"),
    "retrieval": Protocol(
        _retrieval,
        (Column("retr. top-1", "top1", chart=True), Column("retr. top-5", "top5")),
        describe=lambda cfg, split: f"retrieval: {split} queries the train videos"),
    "probe": Protocol(
        _probe, (Column("probe", "accuracy", chart=True),),
        describe=lambda cfg, split: f"linear probe: fitted on train, scored on {split}"),
    "finetune": Protocol(
        _finetune, (Column("fine-tune", "video_top1", chart=True),), splits=("test",),
        describe=lambda cfg, split: f"fine-tuning ({cfg.finetune.epochs} epochs)"),
}


def protocol(name: str) -> Protocol:
    """The table's entry for ``name`` (a ValueError listing the names otherwise)."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown evaluation '{name}' (known: {', '.join(PROTOCOLS)})")
    return PROTOCOLS[name]
