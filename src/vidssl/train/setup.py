"""What every trainer sets up before its first step, built the same way by each of them.

Pretraining (:mod:`vidssl.train.pretrain`), the view module (:mod:`vidssl.train.view`) and
fine-tuning (:mod:`vidssl.train.finetune`) each decide *what* they train; *how* the device is
chosen, the seed set, the optimizer and its learning-rate schedule built, fp16 loss scaling
switched on and the training batches drawn is decided here, once, so that a change (a new
optimizer, another warmup rule) reaches every trainer. The loop that then runs the steps is
:mod:`vidssl.train.loop`'s.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vidssl.config import Config
from vidssl.data.epochs import EpochIndexed, EpochSampler
from vidssl.data.layouts import data_workers
from vidssl.devices import resolve_device
from vidssl.errors import DataError
from vidssl.train.distributed import DistContext

# --------------------------------------------------------------------------------------------
# Device, seed, precision
# --------------------------------------------------------------------------------------------


def training_device(ctx: DistContext, name: str,
                    override: str | torch.device | None = None) -> torch.device:
    """The device this process trains on: ``override`` when given, else ``train.device``
    (:func:`vidssl.devices.resolve_device`); under torchrun with GPUs, ``cuda:LOCAL_RANK``."""
    dev = torch.device(override) if override is not None else resolve_device(name)
    if dev.type == "cuda" and ctx.distributed:
        return torch.device("cuda", ctx.local_rank)
    return dev


def seed_everything(seed: int) -> None:
    """Python's, numpy's and torch's global generators from one seed (initial weights and
    everything else that is not drawn from a per-sample generator)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (its 5-bit exponent underflows small gradients); a disabled scaler
    (a pass-through) for bf16 and fp32, so the training step is written once."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


# --------------------------------------------------------------------------------------------
# Optimizers and learning-rate schedules
# --------------------------------------------------------------------------------------------


def build_optimizer(params: Any, cfg: Config) -> torch.optim.Optimizer:
    """The ``optim`` section's optimizer (pretraining, the view module's G)."""
    o = cfg.optim
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)


def lr_factor(cfg: Config, step: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier at an optimizer step: warmup, then step / cosine / constant."""
    o = cfg.optim
    epoch = step / max(1, steps_per_epoch)
    if o.warmup_epochs > 0 and epoch < o.warmup_epochs:
        return (epoch + 1.0 / max(1, steps_per_epoch)) / o.warmup_epochs
    if o.schedule == "step":
        return o.gamma ** sum(1 for m in o.milestones if epoch >= m)
    if o.schedule == "cosine":
        total = cfg.train.epochs
        t = min(1.0, (epoch - o.warmup_epochs) / max(1e-9, total - o.warmup_epochs))
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0


def build_scheduler(opt: torch.optim.Optimizer, cfg: Config,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR, so a mid-epoch resume lands on the same learning rate."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_factor(cfg, step, steps_per_epoch)
    )


def build_finetune_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """``finetune.optimizer`` (sgd with ``optim.momentum``, or adamw) over the trainable
    parameters; the frozen backbone's are left out when ``finetune.freeze_backbone``."""
    ft = cfg.finetune
    params = [p for p in model.parameters() if p.requires_grad]
    if ft.optimizer == "sgd":
        return torch.optim.SGD(params, lr=ft.lr, momentum=cfg.optim.momentum,
                               weight_decay=ft.weight_decay)
    if ft.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=ft.lr, weight_decay=ft.weight_decay)
    raise ValueError(f"finetune.optimizer must be sgd or adamw; got '{ft.optimizer}'")


def build_finetune_scheduler(opt: torch.optim.Optimizer,
                             cfg: Config) -> torch.optim.lr_scheduler.MultiStepLR:
    """Fine-tuning's per-epoch schedule: ``optim.gamma`` at each of ``finetune.milestones``."""
    return torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=list(cfg.finetune.milestones), gamma=cfg.optim.gamma
    )


# --------------------------------------------------------------------------------------------
# Training batches (pretraining and the view module; fine-tuning draws whole epochs)
# --------------------------------------------------------------------------------------------


def steps_in_epoch(cfg: Config, dataset_len: int, world_size: int = 1) -> int:
    """``train.steps_per_epoch``, or one pass over the data in whole batches of every process."""
    if dataset_len == 0:
        raise DataError("the training data set has no videos (check data.dataset and "
                        "data.root)")
    if cfg.train.steps_per_epoch > 0:
        return cfg.train.steps_per_epoch
    steps = dataset_len // (cfg.train.batch_size * world_size)
    if steps < 1:
        raise DataError(
            f"the dataset has {dataset_len} videos, fewer than one batch of "
            f"train.batch_size={cfg.train.batch_size} x {world_size} process(es); lower the "
            "batch size or set train.steps_per_epoch"
        )
    return steps


def make_loader(dataset: Any, cfg: Config, epoch: int, start_step: int, steps: int,
                device: torch.device, rank: int = 0, world_size: int = 1) -> DataLoader:
    """The training loader, made once per run: move it to another epoch with
    ``loader.sampler.set_epoch(epoch, start_step * batch_size)``.

    Workers are persistent (no re-spawn and dataset re-pickling each epoch); the epoch reaches
    them inside each index (:class:`~vidssl.data.epochs.EpochIndexed`). Pinned memory on
    GPU lets the host-to-device copy run asynchronously.
    """
    b = cfg.train.batch_size
    sampler = EpochSampler(len(dataset), steps * b, cfg.train.seed, epoch, start_step * b,
                           rank, world_size, pairs=True)
    workers = data_workers(cfg.data, device)
    return DataLoader(
        EpochIndexed(dataset),
        batch_size=b,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        # our own generator: creating the loader must not consume the global torch RNG,
        # or a resumed run would drift from an uninterrupted one
        generator=torch.Generator().manual_seed(cfg.train.seed * 1000 + epoch),
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )
