"""Fine-tuning for action recognition (DESIGN section 7): the backbone plus a new linear layer.

Training clips are ``finetune.clip_len`` consecutive frames (step ``finetune.clip_step``) at a
random position with the training augmentation (``ClipDataset``); testing is 10-clip testing
(:mod:`vidssl.eval.recognition`). The loop writes, into its output directory:

- ``finetune.csv`` (one row per epoch: loss, train accuracy, learning rate, seconds) via
  :class:`~vidssl.train.logger.MetricsLogger`, plus TensorBoard events;
- ``finetune_last.pt`` after every epoch, atomically; a later run with the same output
  directory resumes from it (``resume=True``), so a killed job loses at most one epoch;
- ``finetune.json`` (results) and ``finetune.md`` (a short report with the training curves).

The checkpoint stores the backbone under ``backbone`` and the config under ``config``, like a
pretraining checkpoint, so ``load_backbone`` reads a fine-tuned backbone too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vidssl.config import Config
from vidssl.data.datasets import ClipDataset
from vidssl.data.layouts import build_source, data_workers
from vidssl.data.transforms import ClipTransform
from vidssl.errors import DataError, RunDirError
from vidssl.eval.features import random_backbone
from vidssl.eval.plots import plot_curves
from vidssl.eval.recognition import VideoClassifier, evaluate_recognition
from vidssl.eval.report import write_report
from vidssl.resources import configure_threads
from vidssl.train import distributed as du
from vidssl.train.checkpoint import (
    FORMAT,
    checkpoint_config,
    load_checkpoint,
    load_weights,
    require_keys,
    save_checkpoint,
)
from vidssl.train.distributed import autocast
from vidssl.train.logger import MetricsLogger
from vidssl.train.loop import EpochEnd, Position, restore_training_state, train_loop, training_state
from vidssl.train.run_dir import _flatten, claim_run_dir, clear_run, config_changes
from vidssl.train.setup import (
    build_finetune_optimizer,
    build_finetune_scheduler,
    grad_scaler,
    training_device,
)

CHECKPOINT = "finetune_last.pt"
# A fine-tuning's own files, deleted when it starts over (``resume=False``).
RUN_FILES = (CHECKPOINT, "finetune.csv", "finetune.json", "finetune.md", "finetune_curves.png")
# Settings that decide what a fine-tuning computes (prefixes end with "."); a resume that
# differs in one of them is refused, except in FINETUNE_MAY_CHANGE.
FINETUNE_SETTINGS = ("model.", "data.", "finetune.", "optim.momentum", "optim.gamma",
                     "train.seed", "train.precision")
FINETUNE_MAY_CHANGE = ("data.num_workers", "data.root", "data.split_dir", "finetune.epochs")


def backbone_fingerprint(backbone: nn.Module) -> str:
    """SHA-256 of a backbone's initial weights: which network a fine-tuning started from,
    whatever the checkpoint file is called or wherever it was moved."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(backbone.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _finetune_settings(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """The part of a config that decides what a fine-tuning computes."""

    return {k: v for k, v in _flatten(cfg_dict).items()
            if any(k == p or (p.endswith(".") and k.startswith(p)) for p in FINETUNE_SETTINGS)}


def _check_resume(state: dict[str, Any], path: Path, cfg: Config, fingerprint: str,
                  source: str) -> None:
    """Refuse to continue a fine-tuning of another backbone, or under other settings."""
    require_keys(state, path, ("config", "model", "optimizer", "scheduler", "epoch", "rng"))
    started = state.get("source")
    if isinstance(started, dict) and started.get("fingerprint") != fingerprint:
        was = started.get("source") or "another backbone"
        now = source or "this backbone"
        raise RunDirError(
            f"{path} continues a fine-tuning of {was}, not of {now}: rerun with "
            "--no-resume to start over (deletes it) or choose another --out"
        )
    old = checkpoint_config(state, path).to_dict()
    config_changes(_finetune_settings(old), _finetune_settings(cfg.to_dict()), str(path),
                   may_change=FINETUNE_MAY_CHANGE)
    if cfg.finetune.epochs < int(state["epoch"]):
        raise RunDirError(
            f"{path} has already done {int(state['epoch'])} epochs but finetune.epochs="
            f"{cfg.finetune.epochs}; raise finetune.epochs or rerun with --no-resume"
        )


def stopped_message(out: Path) -> str:
    """The line a stopped fine-tuning (Ctrl-C, SIGTERM) leaves: what its checkpoint holds and
    that rerunning the same command resumes it, or that none was written yet."""
    ckpt = out / CHECKPOINT
    if not ckpt.is_file():
        return ("vidssl: stopped before the first epoch ended, nothing saved; rerunning the "
                "same command starts the fine-tuning again")
    done = int(load_checkpoint(ckpt, map_location="cpu", kind="finetune").get("epoch", 0))
    return (f"vidssl: stopped; {ckpt} holds the fine-tuning after epoch {done}: rerun the same "
            "command to resume it from there (--no-resume starts over)")


def train_transform(cfg: Config) -> Any:
    """The training augmentation of DESIGN 6: resize, random crop, colour jitter, flip."""
    return ClipTransform.from_config(cfg.data, train=True)


def finetune(
    backbone: nn.Module | None,
    cfg: Config,
    *,
    out_dir: str | Path | None = None,
    train_source: Any = None,
    test_source: Any = None,
    device: str | torch.device | None = None,
    resume: bool = True,
    progress: bool = True,
    init: str = "checkpoint",
    write_report: bool = True,
    source: str = "",
) -> dict[str, Any]:
    """Fine-tune ``backbone`` (``None`` = random init from the config, seed ``train.seed``)
    with a new linear classifier on ``train_source`` and 10-clip test it on ``test_source``.

    Sources default to ``build_source(cfg.data, "train" / "test")`` (``data.split`` picks the
    official split). Returns the results dict that is also written to ``finetune.json``:
    ``video_top1``, ``video_top5``, ``clip_top1``, counts, and the final training metrics.
    The output folder is locked while the run lasts. ``source`` names where the backbone came
    from (a checkpoint path), for the record and for messages: a later run resumes the
    fine-tuning only if it starts from the same weights and settings.
    """

    ctx = du.context()  # under torchrun: DDP, a shard of the videos per rank, rank 0 writes
    with claim_run_dir(out_dir or cfg.train.out_dir, enabled=ctx.is_main, key="--out") as out:
        return _finetune(backbone, cfg, out, ctx, train_source, test_source, device, resume,
                         progress, init, write_report, source)


def _sources(cfg: Config, train_source: Any, test_source: Any) -> tuple[Any, Any, int]:
    """The train and test videos (the config's split unless given) and the class count."""

    train_source = train_source if train_source is not None else build_source(cfg.data, "train")
    test_source = test_source if test_source is not None else build_source(cfg.data, "test")
    if len(train_source) == 0:
        raise DataError(f"{train_source.name or 'the training split'}: no videos to fine-tune "
                        "on (check data.dataset and data.root)")
    if min(train_source.labels, default=-1) < 0:
        raise DataError("fine-tuning needs labelled training videos (a label is -1; "
                        "data.dataset=unlabeled has no labels)")
    num_classes = len(train_source.classes) or int(max(train_source.labels)) + 1
    return train_source, test_source, num_classes


def _train_data(cfg: Config, ctx: Any, train_source: Any) -> tuple[Any, Any, int, bool, int]:
    """The training clips, this rank's sampler (DDP), batch size, drop_last, steps per epoch."""

    ft = cfg.finetune
    dataset = ClipDataset(train_source, train_transform(cfg), clip_len=ft.clip_len,
                          step=ft.clip_step, seed=cfg.train.seed)
    sampler = None
    if ctx.distributed:  # each rank a disjoint shard (padded to equal size), reshuffled per epoch
        sampler = torch.utils.data.DistributedSampler(
            dataset, ctx.world_size, ctx.rank, shuffle=True, seed=cfg.train.seed)
    n_mine = len(sampler) if sampler is not None else len(dataset)
    batch = min(ft.batch_size, n_mine)
    # Every video once per epoch, except a 1-clip remainder: BatchNorm cannot train on it.
    drop_last = n_mine % batch == 1 and n_mine > batch
    steps_per_epoch = n_mine // batch if drop_last else -(-n_mine // batch)
    return dataset, sampler, batch, drop_last, steps_per_epoch


def _results(cfg: Config, init: str, num_classes: int, train_source: Any,
             last: dict[str, float]) -> dict[str, Any]:
    """What ``finetune.json`` records beside the test metrics."""
    return {
        "task": "finetune",
        "dataset": cfg.data.dataset,
        "split": cfg.data.split,
        "backbone": cfg.model.backbone,
        "width": cfg.model.width,
        "init": init,
        "epochs": cfg.finetune.epochs,
        "num_classes": num_classes,
        "num_train_videos": len(train_source),
        **{f"final_{k}": v for k, v in last.items() if k not in ("epoch", "seconds")},
    }


def _finetune(backbone: nn.Module | None, cfg: Config, out: Path, ctx: Any, train_source: Any,
              test_source: Any, device: str | torch.device | None, resume: bool,
              progress: bool, init: str, write_report: bool, source: str) -> dict[str, Any]:

    ft = cfg.finetune
    dev = training_device(ctx, cfg.train.device, override=device)
    configure_threads(cfg.train.threads)
    if backbone is None:
        backbone, init = random_backbone(cfg), "random"
    fingerprint = backbone_fingerprint(backbone)
    if not source and init == "random":
        source = f"a random init (model.backbone={cfg.model.backbone}, train.seed={cfg.train.seed})"
    # what the folder holds is checked before anything is built or written
    ckpt_path = out / CHECKPOINT
    state: dict[str, Any] | None = None
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, map_location="cpu", kind="finetune")
        _check_resume(state, ckpt_path, cfg, fingerprint, source)
    elif ctx.is_main:
        clear_run(out, RUN_FILES)  # start over: no rows or results of an earlier run remain
    du.barrier(ctx)
    train_source, test_source, num_classes = _sources(cfg, train_source, test_source)

    torch.manual_seed(cfg.train.seed)  # the classifier's initial weights
    model = VideoClassifier(backbone, num_classes, dropout=ft.dropout)
    if ft.freeze_backbone:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    model.to(dev)
    train_model = du.wrap_model(model, ctx, cfg)
    optimizer = build_finetune_optimizer(model, cfg)
    scheduler = build_finetune_scheduler(optimizer, cfg)
    scaler = grad_scaler(dev, cfg.train.precision)

    dataset, sampler, batch, drop_last, steps_per_epoch = _train_data(cfg, ctx, train_source)

    logger = MetricsLogger(out, name="finetune", enabled=ctx.is_main)
    start = Position()
    last: dict[str, float] = {}  # metrics of the last finished epoch, for the results
    if state is not None:
        load_weights(model, state["model"], ckpt_path, "model")
        start = restore_training_state(state, ckpt_path, {"optimizer": optimizer}, scheduler,
                                       scaler)
        start.step, start.epoch_step = start.epoch * steps_per_epoch, 0
        last = dict(state.get("last_epoch", {}))
        if ctx.is_main:
            logger.truncate_after(start.epoch)
        tqdm.write(f"vidssl: resuming fine-tuning from {ckpt_path} (epoch {start.epoch})")

    def save(pos: Position) -> None:
        if not ctx.is_main:
            du.barrier(ctx)
            return
        save_checkpoint(
            {
                "format": FORMAT,
                "kind": "finetune",
                "config": cfg.to_dict(),
                "backbone": model.backbone.state_dict(),
                "model": model.state_dict(),
                "num_classes": num_classes,
                "classes": list(train_source.classes),
                **training_state(pos, {"optimizer": optimizer}, scheduler, scaler),
                "last_epoch": last,
                "source": {"source": source, "init": init, "fingerprint": fingerprint},
            },
            ckpt_path,
        )
        du.barrier(ctx)

    def batches(epoch: int, epoch_step: int) -> DataLoader:
        dataset.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = DataLoader(
            dataset, batch_size=batch, shuffle=sampler is None, sampler=sampler,
            drop_last=drop_last, num_workers=data_workers(cfg.data, dev),
            pin_memory=dev.type == "cuda",
            generator=torch.Generator().manual_seed(cfg.train.seed * 1000 + epoch),
        )
        model.train()
        if ft.freeze_backbone:
            model.backbone.eval()  # frozen means frozen BN statistics too
        return loader

    def step_fn(b: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        x = b["clip"].to(dev, non_blocking=True)
        y = b["label"].to(dev, non_blocking=True)
        with autocast(dev, cfg.train.precision):
            logits = train_model(x)
            loss = nn.functional.cross_entropy(logits.float(), y)
        # sums over the epoch's clips (the last batch may be smaller): weighted by len(y);
        # detached tensors on the device, read back only when shown or logged (no host sync
        # per step)
        return loss, {"loss_sum": loss.detach().float() * len(y),
                      "correct": (logits.detach().argmax(1) == y).sum(), "seen": len(y)}

    def postfix(epoch: int, step: int, metrics: Any, sums: dict[str, Any]) -> Any:
        if step % max(1, cfg.train.log_every):
            return None  # reading the sums back is a host sync: only when they are shown
        return {"epoch": epoch + 1, "loss": f"{float(sums['loss_sum']) / sums['seen']:.3f}",
                "acc": f"{float(sums['correct']) / sums['seen']:.3f}"}

    def end_epoch(e: EpochEnd) -> dict[str, Any]:
        loss_sum, correct, seen = (float(e.sums.get(k, 0)) for k in ("loss_sum", "correct",
                                                                     "seen"))
        if ctx.distributed:  # epoch metrics over every rank's clips
            loss_sum, correct, seen = du.all_reduce_sum(ctx, [loss_sum, correct, seen])
        last.clear()
        last.update({
            "epoch": e.epoch + 1,
            "loss": loss_sum / max(1, seen),
            "train_acc": correct / max(1, seen),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": e.seconds,
        })
        scheduler.step()  # a per-epoch schedule (finetune.milestones are epochs)
        return dict(last)

    train_loop(step_fn=step_fn, optimizer=optimizer, batches=batches, start=start,
               epochs=ft.epochs, steps_per_epoch=steps_per_epoch, save=save,
               end_epoch=end_epoch, logger=logger, scaler=scaler, ctx=ctx,
               resumable_mid_epoch=False, guard=(), nan_what="fine-tuning loss",
               log_step=False, postfix=postfix, progress=progress and ctx.is_main,
               desc="finetune",
               stop_message="vidssl: stopping after this step; the fine-tuning resumes from "
               "its last finished epoch (Ctrl-C again to stop now)")

    if not ctx.is_main:  # rank 0 alone tests the fine-tuned model and writes the results
        return {}
    results = _results(cfg, init, num_classes, train_source, last)
    results.update(evaluate_recognition(model, test_source, cfg, device=dev, progress=progress))
    if write_report:
        _write_outputs(out, results, cfg)
    return results


def _write_outputs(out: Path, results: dict[str, Any], cfg: Config) -> None:

    images = []
    csv = out / "finetune.csv"
    if csv.is_file():
        images.append(
            ("Training curves", plot_curves({"finetune": csv}, out / "finetune_curves.png"))
        )
    write_report(out, "finetune", f"Fine-tuning: {cfg.data.dataset} split {cfg.data.split}",
                 results, images=images, config=cfg,
                 headline=("video_top1", "clip_top1", "video_top5"))

