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

    d = cfg.data
    return ClipTransform(
        resize=tuple(d.resize),
        crop=d.crop,
        train=train,
        color_jitter=d.color_jitter if train else 0.0,
        hflip=d.hflip if train else False,
        input=d.input,
    )


def build_sampler(cfg: Config) -> Any:
    from vidssl.data.sampling import PretextSampler

    s = cfg.sampler
    return PretextSampler(
        clip_len=s.clip_len,
        n_segments=s.n_segments,
        min_len=s.min_len,
        rate_min=s.rate_min,
        rate_max=s.rate_max,
        short_video=s.short_video,
    )


def build_pretext_dataset(cfg: Config, split: str = "train", train: bool = True) -> Any:
    """The Dataset the configured method trains on (``split`` train) or is scored on (test)."""
    from vidssl.data.datasets import build_source

    source = build_source(cfg.data, split)
    transform = build_transform(cfg, train)
    method = cfg.loss.method
    seed = cfg.train.seed if train else cfg.train.seed + 10_007
    if method == "ours":
        from vidssl.data.datasets import PretextDataset

        return PretextDataset(source, build_sampler(cfg), transform, seed=seed,
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
