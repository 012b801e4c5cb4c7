"""Which model and which dataset a config's method trains.

``loss.method`` selects the pretext method: ``ours`` (the paper's multi-task model, whose
ablations are loss weights and switches) or one of the baselines in ``method/baselines``. Each
method brings its own clip sampling (VCOP wants n separate clips, PRP one clip at one rate), so
the dataset is chosen here too: the trainer never branches on the method.
"""

from __future__ import annotations

from typing import Any

import torch

from vidssl.config import Config


def build_transform(cfg: Config, train: bool) -> Any:
    """The clip transform of DESIGN 6: augmentation for training, resize + center crop for eval."""
    from vidssl.data.transforms import ClipTransform

    return ClipTransform.from_config(cfg.data, train=train)


def build_pretext_dataset(cfg: Config, split: str = "train", train: bool = True) -> Any:
    """The Dataset the configured method trains on (``split`` train) or is scored on (test)."""
    from vidssl.data.datasets import build_source

    source = build_source(cfg.data, split)
    transform = build_transform(cfg, train)
    method = cfg.loss.method
    seed = cfg.train.seed if train else cfg.train.seed + 10_007
    if method == "ours":
        from vidssl.data.datasets import PretextDataset
        from vidssl.data.sampling import PretextSampler

        return PretextDataset(source, PretextSampler.from_config(cfg.sampler), transform, seed=seed,
                              with_key=cfg.loss.contrastive > 0)
    from vidssl.method.baselines import build_baseline_dataset

    return build_baseline_dataset(cfg, source, transform, seed)


def build_pretext_model(cfg: Config) -> torch.nn.Module:
    """The trainable pretext model: ``forward(batch) -> (loss, metrics)``, ``after_step()``."""
    if cfg.loss.method == "ours":
        from vidssl.method.multitask import PretextModel

        return PretextModel(cfg)
    from vidssl.method.baselines import build_baseline_model

    return build_baseline_model(cfg)
