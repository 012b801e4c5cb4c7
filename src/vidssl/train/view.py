"""Pretraining the view-synthesis module (DESIGN section 5): ``vidssl pretrain-view``.

Each step does two updates on one batch of real clips ``x`` (consecutive frames, step 1: the
flow estimator needs true frame-to-frame motion, which pretext clips with rates up to 8 and
segment junctions do not give):

1. O: ``photometric_loss(x, O(x))`` with O's own Adam optimizer (``view.flow_lr``). This is the
   only loss that ever changes O.
2. G: ``x', mu, logvar = G(x)``;
   ``L_view = view.kl * KL + view.infomax * infomax(O, x, x') + view.infomin * infomin(f, x, x')``
   (KL reduced by ``view.kl_reduction``: ``mean`` by default, ``sum`` = the paper's eq. 14)
   with the optimizer and schedule of the ``optim`` section. O enters frozen (see
   ``infomax_loss``), f is a frozen backbone (``view.extractor``: ``random`` = a randomly
   initialised ``model.backbone`` at ``model.width``, seeded by ``train.seed``; otherwise the
   path of a checkpoint whose backbone is loaded).

O is updated first, so G is always measured against the flow estimator's latest state.

Outputs in ``out_dir``: ``checkpoint.pt`` (written atomically after every epoch and on Ctrl-C /
SIGTERM: ``kind``, ``arch``, ``generator``, ``flow``, ``config``, ``epoch``, ``step``, and for
an exact resume ``optimizer`` (G), ``flow_optimizer`` (O), ``scheduler``, ``epoch_step``,
``rng``, mid-epoch ``epoch_metrics``), ``view_metrics.csv`` (one row per epoch: mean losses,
mean flow magnitude, learning rate, seconds) and ``config.yaml``. The training loop is
:mod:`vidssl.train.loop`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidssl.config import Config, save_config
from vidssl.data.datasets import ClipDataset
from vidssl.data.layouts import build_source
from vidssl.data.transforms import ClipTransform
from vidssl.errors import CheckpointError
from vidssl.method.view_losses import infomax_loss, infomin_loss, kl_divergence, photometric_loss
from vidssl.models.backbones import build_backbone
from vidssl.models.view_synthesis import build_view_module
from vidssl.resources import configure_threads
from vidssl.train.checkpoint import load_backbone, load_weights, save_checkpoint
from vidssl.train.distributed import DistContext
from vidssl.train.logger import MetricsLogger
from vidssl.train.loop import (
    EpochEnd,
    Position,
    restore_training_state,
    resume_state,
    train_loop,
    training_state,
)
from vidssl.train.run_dir import claim_run_dir, start_fresh
from vidssl.train.setup import (
    build_optimizer,
    build_scheduler,
    make_loader,
    seed_everything,
    steps_in_epoch,
    training_device,
)

VIEW_FORMAT = "vidssl-view-v1"
CHECKPOINT_NAME = "checkpoint.pt"
# A view training's own files: what --overwrite deletes (nothing else in the folder).
RUN_FILES = (CHECKPOINT_NAME, "view_metrics.csv", "config.yaml", "tensorboard")
RESUME_KEYS = ("config", "generator", "flow", "epoch", "step")


def build_extractor(cfg: Config, device: torch.device) -> nn.Module:
    """The frozen feature extractor f of the info-min term (eval mode, no trainable params)."""
    if cfg.view.extractor == "random":

        # Its own generator state: the extractor must not depend on how much randomness the
        # rest of the set-up consumed, and must not shift G's initialisation either.
        state = torch.get_rng_state()
        torch.manual_seed(cfg.train.seed + 104729)
        try:
            f = build_backbone(cfg.model.backbone, width=cfg.model.width, **cfg.model.backbone_args)
        finally:
            torch.set_rng_state(state)
    else:

        f, _ = load_backbone(cfg.view.extractor)
    return f.to(device).eval().requires_grad_(False)


def build_view_dataset(cfg: Config, split: str = "train", train: bool = True) -> Any:
    """Clips of ``sampler.clip_len`` consecutive frames with the configured transform."""

    return ClipDataset(
        build_source(cfg.data, split),
        ClipTransform.from_config(cfg.data, train=train),
        clip_len=cfg.sampler.clip_len,
        step=1,
        seed=cfg.train.seed,
    )


def view_checkpoint_state(cfg: Config, module: nn.Module, epoch: int, step: int,
                          training: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``load_view_module`` / ``load_view_generator`` read back (weights-only safe), plus
    ``training`` (optimizers, schedule, position, RNG: :func:`~vidssl.train.loop.training_state`)
    for a resume."""
    return {
        "format": VIEW_FORMAT,
        "kind": "view",
        "config": cfg.to_dict(),
        "arch": module.arch(),
        "generator": module.generator.state_dict(),
        "flow": module.flow.state_dict(),
        "epoch": epoch,
        "step": step,
        **(training or {}),
    }


def train_view(cfg: Config, out_dir: str | Path, progress: bool = True,
               overwrite: bool = False, resume: str | Path | None = None,
               stop_after_steps: int = 0) -> Path:
    """Pretrain G and O as configured; returns the path of the checkpoint (``checkpoint.pt``).

    The output folder is locked while training; one that already holds a checkpoint is
    refused unless ``resume`` continues that run (exactly, also from the middle of an epoch)
    or ``overwrite`` deletes it first. ``stop_after_steps`` > 0 stops after that many steps as
    a Ctrl-C would, checkpointing (tests of mid-run resume).
    """

    with claim_run_dir(out_dir) as out:
        ckpt = None
        if resume:
            ckpt, _ = resume_state(cfg, out, resume, overwrite, True, kind="view",
                                   keys=RESUME_KEYS, checkpoint_name=CHECKPOINT_NAME)
            if "optimizer" not in ckpt:
                raise CheckpointError(
                    f"{resume}: this view checkpoint holds no optimizer state (it was written "
                    "before pretrain-view could resume), so it cannot be continued exactly; "
                    "start a new run (--overwrite, or another output folder)")
        else:
            start_fresh(out, overwrite, checkpoint=CHECKPOINT_NAME, run_files=RUN_FILES,
                        logs=("view_metrics.csv", "tensorboard"))
        return _train_view(cfg, out, progress, ckpt, resume, stop_after_steps)


def _view_step(module: nn.Module, extractor: nn.Module | None, opt_o: torch.optim.Optimizer,
               w: Any, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """O's update on the photometric loss, then G's loss (its update is the loop's).

    The metrics stay detached tensors on the device: the loop sums them and reads them back
    once per epoch (and the progress bar every ``train.log_every`` steps), so a GPU step does
    not wait for the host."""
    flow = module.flow(x)
    photo = photometric_loss(x, flow)
    opt_o.zero_grad(set_to_none=True)
    photo.backward()
    opt_o.step()

    view, mu, logvar = module.generator(x)
    terms = {
        "kl": kl_divergence(mu, logvar, w.kl_reduction),
        "infomax": infomax_loss(module.flow, x, view),
    }
    if extractor is not None:
        terms["infomin"] = infomin_loss(extractor, x, view)
    loss = sum(getattr(w, k) * v for k, v in terms.items())
    values = {"photo": photo, **terms, "loss": loss, "flow_mag": flow.detach().norm(dim=1).mean()}
    return loss, {k: v.detach() for k, v in values.items()}


def _train_view(cfg: Config, out: Path, progress: bool, ckpt: dict[str, Any] | None,
                resume: Any, stop_after_steps: int) -> Path:

    configure_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    device = training_device(DistContext(), cfg.train.device)
    save_config(cfg, out / "config.yaml")

    dataset = build_view_dataset(cfg)
    steps = steps_in_epoch(cfg, len(dataset))
    module = build_view_module(cfg.view).to(device)
    extractor = build_extractor(cfg, device) if cfg.view.infomin > 0 else None
    opt_g = build_optimizer(module.generator.parameters(), cfg)
    sched_g = build_scheduler(opt_g, cfg, steps)
    opt_o = torch.optim.Adam(module.flow.parameters(), lr=cfg.view.flow_lr)
    optimizers = {"optimizer": opt_g, "flow_optimizer": opt_o}
    logger = MetricsLogger(out, name="view_metrics")
    path = out / CHECKPOINT_NAME
    start = Position()
    if ckpt is not None:
        load_weights(module.generator, ckpt["generator"], resume, "generator")
        load_weights(module.flow, ckpt["flow"], resume, "flow")
        start = restore_training_state(ckpt, resume, optimizers, sched_g)
        logger.truncate_after(start.epoch)

    def batches(epoch: int, epoch_step: int) -> Any:
        module.train()
        return make_loader(dataset, cfg, epoch, epoch_step, steps, device)

    def step_fn(batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = batch["clip"].to(device, non_blocking=True)
        return _view_step(module, extractor, opt_o, cfg.view, x)

    def end_epoch(e: EpochEnd) -> dict[str, Any]:
        row = {"epoch": e.epoch + 1,
               **{k: float(v) / max(1, e.batches) for k, v in e.sums.items()}}
        row["lr"] = opt_g.param_groups[0]["lr"]
        row["seconds"] = e.seconds
        return row

    def postfix(epoch: int, step: int, got: dict[str, Any], sums: Any) -> Any:
        if step % max(1, cfg.train.log_every):
            return None  # reading the numbers back is a host sync: only when they are shown
        return {"epoch": epoch + 1, "photo": f"{float(got['photo']):.3f}",
                "g": f"{float(got['loss']):.3f}"}

    def save(pos: Position) -> None:
        training = training_state(pos, optimizers, sched_g)
        save_checkpoint(view_checkpoint_state(cfg, module, pos.epoch, pos.step, training), path)

    train_loop(step_fn=step_fn, optimizer=opt_g, batches=batches, start=start,
               epochs=cfg.train.epochs, steps_per_epoch=steps, save=save, end_epoch=end_epoch,
               logger=logger, scheduler=sched_g, guard=("photo", "kl", "infomax", "infomin",
                                                        "flow_mag"),
               nan_what="view loss", nan_where=f"the last good checkpoint is {path}",
               log_step=False, progress=progress, desc="pretrain-view",
               postfix=postfix,
               stop_after_steps=stop_after_steps)
    return path
