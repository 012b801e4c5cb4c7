"""Baseline pretext methods on the same backbones, data pipeline and trainer as the paper's.

``loss.method`` picks one (``vidssl.method.factory`` calls the two builders below):

- ``vcop``: clip order prediction over ``sampler.n_segments`` separately encoded clips
  (:mod:`.vcop_model`, head in :mod:`.vcop`);
- ``prp``: playback-rate classification over the powers of two in the rate range (:mod:`.prp`);
- ``pace``: pace classification + MoCo with same-video positives (:mod:`.pace`);
- ``supervised``: the labels, the upper bound (:mod:`.supervised`).

Random init is not a pretraining method: ``vidssl compare`` evaluates the config's backbone with
seeded random weights (a method entry with ``pretrain: false``). Every model follows the
``PretextModel`` contract: ``forward(batch) -> (loss, metrics)`` with one ``loss_<term>`` per
term, ``after_step()``, and the encoder under ``.backbone``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from vidssl.config import Config, ConfigError

BASELINES = ("vcop", "prp", "pace", "supervised")


def build_baseline_model(cfg: Config) -> nn.Module:
    """The trainable model of baseline ``cfg.loss.method``."""
    method = cfg.loss.method
    if method == "vcop":
        from vidssl.method.baselines.vcop_model import VCOPModel

        return VCOPModel(cfg)
    if method == "prp":
        from vidssl.method.baselines.prp import RateClassifier, prp_rates

        return RateClassifier(cfg, len(prp_rates(cfg)))
    if method == "pace":
        from vidssl.method.baselines.pace import PaceModel

        return PaceModel(cfg)
    if method == "supervised":
        from vidssl.method.baselines.supervised import SupervisedModel

        return SupervisedModel(cfg)
    raise ConfigError(f"loss.method '{method}' is not a baseline ({', '.join(BASELINES)})")


def build_baseline_dataset(cfg: Config, source: Any, transform: Any, seed: int) -> Any:
    """The dataset baseline ``cfg.loss.method`` trains on (or is scored on) from ``source``."""
    from vidssl.method.baselines.data import RateClipDataset, VCOPDataset

    method, s = cfg.loss.method, cfg.sampler
    if method == "vcop":
        from vidssl.method.baselines.vcop_model import vcop_gap

        return VCOPDataset(source, transform, clip_len=s.clip_len, n_clips=s.n_segments,
                           gap=vcop_gap(cfg), seed=seed)
    if method == "prp":
        from vidssl.method.baselines.prp import prp_rates

        return RateClipDataset(source, transform, prp_rates(cfg), clip_len=s.clip_len, seed=seed)
    if method == "pace":
        from vidssl.method.baselines.pace import pace_rates

        return RateClipDataset(source, transform, pace_rates(cfg), clip_len=s.clip_len,
                               seed=seed, with_key=cfg.loss.contrastive > 0)
    if method == "supervised":
        from vidssl.data.datasets import ClipDataset

        if min(source.labels, default=-1) < 0:
            raise ValueError("loss.method=supervised needs labelled videos (a label is -1)")
        f = cfg.finetune
        return ClipDataset(source, transform, clip_len=f.clip_len, step=f.clip_step, seed=seed)
    raise ConfigError(f"loss.method '{method}' is not a baseline ({', '.join(BASELINES)})")
