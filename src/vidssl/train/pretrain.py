"""Self-supervised pretraining loop (``vidssl pretrain``).

What makes it trustworthy rather than just a loop:
- *Exact resume.* Every random choice is a function of (seed, epoch, sample index) or of the
  torch RNG state saved in the checkpoint; the order of samples in an epoch comes from a sampler
  seeded by (seed, epoch) that can start mid-epoch. Stopping after any step and resuming gives
  the same weights, queue and optimizer state as an uninterrupted run.
- *Nothing lost when killed.* Checkpoints are written atomically every ``train.checkpoint_every``
  epochs, at the end, and on Ctrl-C / SIGTERM (at the step where the run stopped).
- *Loud failure.* A NaN or infinite loss term stops the run naming the step and the term, and the
  last good checkpoint stays in place (we never save a state that produced a non-finite loss).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from vidssl.config import Config, ConfigError, save_config
from vidssl.data.epochs import EpochIndexed
from vidssl.data.layouts import data_workers, has_split
from vidssl.devices import batch_to_device
from vidssl.errors import RunDirError
from vidssl.method.registry import build_model, build_pretext_dataset, check_config
from vidssl.resources import configure_threads
from vidssl.train import distributed as dist_utils
from vidssl.train.checkpoint import (
    FORMAT,
    checkpoint_epoch,
    load_view_generator,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from vidssl.train.logger import MetricsLogger
from vidssl.train.loop import (  # noqa: F401 - Interrupted, NonFiniteLossError: public here too
    EpochEnd,
    Interrupted,
    NonFiniteLossError,
    Position,
    restore_training_state,
    resume_state,
    train_loop,
    training_state,
)
from vidssl.train.run_dir import (
    claim_run_dir,
    experiment_dict,
    first_difference,
    recorded_config,
    start_fresh,
)
from vidssl.train.setup import (
    build_optimizer,
    build_scheduler,
    grad_scaler,
    make_loader,
    seed_everything,
    steps_in_epoch,
    training_device,
)

CHECKPOINT_NAME = "checkpoint.pt"
# A pretraining run's own files: what --overwrite deletes (nothing else in the folder).
RUN_FILES = (CHECKPOINT_NAME, "metrics.csv", "config.yaml", "tensorboard")
# Outputs that evaluation commands write next to a checkpoint: they describe its weights, so
# they are named when an --overwrite makes them stale.
_DERIVED_OUTPUTS = ("retrieval-*", "linear-probe-*", "tsne-*", "finetune-*")
RESUME_KEYS = ("config", "model", "optimizer", "scheduler", "epoch", "step", "rng")
Log = Callable[[str], None]  # where progress lines go (print, tqdm.write, a list in tests)


@torch.no_grad()
def evaluate_pretext(model: torch.nn.Module, dataset: Any, cfg: Config, device: torch.device,
                     max_batches: int = 0) -> dict[str, float]:
    """Pretext metrics on held-out clips (Tables III/IV/VII): order acc, rate MSE, contrastive.

    The model is in eval mode: BN uses running statistics, the queue and key encoder are read but
    never updated, so evaluating does not change training. ``eval.pretext_clips`` clips are
    drawn per video (pass ``k`` of the data set, :class:`~vidssl.data.epochs.EpochIndexed`;
    pass 0 is the one clip drawn when it is 1), the same clips at every evaluation.
    """
    was_training = model.training
    model.eval()
    clips = max(1, cfg.eval.pretext_clips)
    b = min(cfg.train.batch_size, len(dataset) * clips)
    keys = [(0, i, k) for k in range(clips) for i in range(len(dataset))]
    loader = DataLoader(EpochIndexed(dataset), batch_size=b, sampler=keys,
                        num_workers=data_workers(cfg.data, device),
                        drop_last=False)
    sums: dict[str, float] = {}
    count = 0
    for i, batch in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        n = int(batch["clip"].shape[0]) if "clip" in batch else b
        _, metrics = model(batch_to_device(batch, device))
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + float(v) * n
        count += n
    model.train(was_training)
    return {f"val_{k}": v / max(1, count) for k, v in sums.items()}


def _checkpoint_state(cfg: Config, model: Any, optimizer: Any, scheduler: Any, pos: Position,
                      scaler: Any = None, rank_rngs: list[Any] | None = None) -> dict[str, Any]:
    core = dist_utils.unwrap(model)
    state: dict[str, Any] = {
        "format": FORMAT,
        "kind": "pretrain",
        "config": cfg.to_dict(),
        "backbone": core.backbone.state_dict(),
        "model": core.state_dict(),
        **training_state(pos, {"optimizer": optimizer}, scheduler, scaler),
    }
    if rank_rngs is not None:
        # every rank's RNG (dropout, key draws differ per rank) and the job size, so a resume
        # with the same number of processes is exact and one with another number is sound
        state["rank_rng"] = rank_rngs
        state["world_size"] = len(rank_rngs)
    return state


def _rescale_position(ckpt: dict[str, Any], cfg: Config, steps: int,
                      world_size: int) -> tuple[int, int]:
    """``(step, epoch_step)`` of a checkpoint in this job's units.

    Same number of processes: as saved. Another number with ``train.steps_per_epoch: 0`` (an
    epoch is one pass over the data): an optimizer step now covers another number of samples,
    so the position is recomputed from the samples consumed, and the learning-rate schedule
    (a function of step / steps per epoch) lands on the same epoch fraction.
    """
    old_world = int(ckpt.get("world_size", 1))
    step, epoch_step = int(ckpt["step"]), int(ckpt.get("epoch_step", 0))
    if old_world == world_size or cfg.train.steps_per_epoch > 0:
        return step, epoch_step
    epoch_step = min(steps, epoch_step * old_world // world_size)
    return int(ckpt["epoch"]) * steps + epoch_step, epoch_step


def pretrain(cfg: Config, resume: str | Path | None = None, progress: bool = True,
             stop_after_steps: int = 0, overwrite: bool = False) -> Path:
    """Run (or continue) pretraining; return the path of the last checkpoint.

    The output folder is locked for the run (a second run into it stops at once). A folder
    that already holds a run is refused unless ``resume`` continues that run or ``overwrite``
    deletes it first (see :mod:`vidssl.train.run_dir`). ``stop_after_steps`` > 0 stops after
    that many optimizer steps of this call, checkpointing exactly as a Ctrl-C would (used by
    tests of mid-epoch resume). The method's config checks run first
    (:func:`~vidssl.method.registry.check_config`), before the folder is touched.
    """
    check_config(cfg)
    ctx = dist_utils.context()
    with claim_run_dir(cfg.train.out_dir, enabled=ctx.is_main) as out:
        return _pretrain(cfg, out, ctx, resume, progress, stop_after_steps, overwrite)


def _datasets(cfg: Config, ctx: Any) -> tuple[Any, Any]:
    """The training data set and the held-out one of the pretext metrics (or None).

    Held out means the val split where the data set has one (the synthetic data, a folder with
    ``data.val_list``), so that watching these metrics (choosing epochs, weights, ...) never
    looks at the test split; the test split only where there is no val split.
    """
    dataset = build_pretext_dataset(cfg, "train", train=True)
    val_dataset = None
    if cfg.train.eval_every:
        split = "val" if has_split(cfg.data, "val") else "test"
        try:
            val_dataset = build_pretext_dataset(cfg, split, train=False)
        except ValueError as exc:  # e.g. an unlabeled folder has no test split
            if ctx.is_main:
                tqdm.write(f"vidssl: no held-out pretext metrics ({exc})")
    if val_dataset is not None and hasattr(dataset, "skip_log"):
        # one log for the run: a bad video is warned about once, and videos skipped only by
        # the held-out evaluation appear in the end-of-epoch summary too
        val_dataset.skip_log = dataset.skip_log
    return dataset, val_dataset


def _restore(ckpt: dict[str, Any], resume: Any, cfg: Config, ctx: Any, model: Any,
             optimizer: Any, scheduler: Any, scaler: Any, steps: int) -> Position:
    """Load a pretraining checkpoint into the run; returns where to continue (in this job's
    units when the number of processes changed) with every rank's RNG restored."""
    load_weights(model, ckpt["model"], resume, "model")
    pos = restore_training_state(ckpt, resume, {"optimizer": optimizer}, scheduler, scaler,
                                 rng=False)
    pos.step, pos.epoch_step = _rescale_position(ckpt, cfg, steps, ctx.world_size)
    if scheduler.last_epoch != pos.step:  # another world size moved the position
        scheduler.last_epoch = pos.step
        for group, base, fn in zip(optimizer.param_groups, scheduler.base_lrs,
                                   scheduler.lr_lambdas):
            group["lr"] = base * fn(pos.step)
    rank_rng = ckpt.get("rank_rng")
    if rank_rng is not None and len(rank_rng) == ctx.world_size:
        set_rng_state(rank_rng[ctx.rank])
    else:
        set_rng_state(ckpt["rng"])
        if ctx.rank > 0:  # ranks must not share random draws: derive theirs
            torch.manual_seed(cfg.train.seed + 7919 * ctx.rank + pos.step)
    return pos


def _attach_view_generator(model: Any, cfg: Config, device: torch.device) -> None:
    """``view.checkpoint``: the key clips are drawn by a trained view module (DESIGN 5)."""

    generator, view_cfg = load_view_generator(cfg.view.checkpoint, device)
    if view_cfg.data.input != cfg.data.input:
        raise ConfigError(
            f"view.checkpoint={cfg.view.checkpoint} was trained on data.input="
            f"{view_cfg.data.input} clips but this run feeds data.input={cfg.data.input}: "
            "train the view module with the same input mode"
        )
    model.set_key_generator(generator, cfg.view.p)


def _pretrain(cfg: Config, out: Path, ctx: Any, resume: str | Path | None, progress: bool,
              stop_after_steps: int, overwrite: bool) -> Path:
    device = training_device(ctx, cfg.train.device)
    start = Position()
    ckpt: dict[str, Any] | None = None
    history: list[dict[str, Any]] = []
    if resume:
        ckpt, history = resume_state(cfg, out, resume, overwrite, ctx.is_main, kind="pretrain",
                                     keys=RESUME_KEYS, checkpoint_name=CHECKPOINT_NAME)
    elif ctx.is_main:
        start_fresh(out, overwrite, checkpoint=CHECKPOINT_NAME, run_files=RUN_FILES,
                    logs=("metrics.csv", "tensorboard"), derived=_DERIVED_OUTPUTS)
    configure_threads(cfg.train.threads)
    seed_everything(cfg.train.seed + ctx.rank)

    dataset, val_dataset = _datasets(cfg, ctx)
    steps = steps_in_epoch(cfg, len(dataset), ctx.world_size)
    model = dist_utils.prepare_model(build_model(cfg).to(device), ctx, cfg)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    scheduler = build_scheduler(optimizer, cfg, steps)
    scaler = grad_scaler(device, cfg.train.precision)
    if ckpt is not None:
        start = _restore(ckpt, resume, cfg, ctx, model, optimizer, scheduler, scaler, steps)
    if cfg.view.checkpoint and hasattr(model, "set_key_generator"):
        _attach_view_generator(model, cfg, device)
    train_model = dist_utils.wrap_model(model, ctx, cfg)

    logger = MetricsLogger(out, enabled=ctx.is_main)
    if ctx.is_main:
        save_config(cfg, out / "config.yaml")
        if ckpt is not None:
            logger.truncate_after(start.epoch)
    last_path = out / CHECKPOINT_NAME

    def save(pos: Position) -> None:
        rank_rngs = dist_utils.gather_objects(ctx, rng_state())  # a collective: every rank
        if ctx.is_main:
            state = _checkpoint_state(cfg, train_model, optimizer, scheduler, pos, scaler,
                                      rank_rngs)
            if history:
                state["history"] = history
            save_checkpoint(state, last_path)
        dist_utils.barrier(ctx)

    loader = make_loader(dataset, cfg, start.epoch, start.epoch_step, steps, device, ctx.rank,
                         ctx.world_size)

    def batches(epoch: int, epoch_step: int) -> Any:
        loader.sampler.set_epoch(epoch, epoch_step * cfg.train.batch_size)
        train_model.train()
        return loader

    def step_fn(batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        batch = batch_to_device(batch, device, cfg.train.channels_last)
        with dist_utils.autocast(device, cfg.train.precision):
            return train_model(batch)

    skip_reported: list[tuple[int, int]] = [(0, 0)]

    def end_epoch(e: EpochEnd) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": e.epoch + 1, "step": e.step,
                               "lr": optimizer.param_groups[0]["lr"], "seconds": e.seconds}
        row.update({k: float(v) / max(1, e.batches) for k, v in e.sums.items()})
        if val_dataset is not None and ctx.is_main and (
                e.last or (e.epoch + 1) % cfg.train.eval_every == 0):
            row.update(evaluate_pretext(dist_utils.unwrap(train_model), val_dataset, cfg,
                                        device))
        skip = getattr(dataset, "skip_log", None)
        if skip is not None and ctx.is_main:
            counts = skip.counts()  # report when a new video was skipped or short
            seen_bad = (counts["skipped_videos"], counts["short_videos"])
            if seen_bad != skip_reported[0] and any(seen_bad):
                tqdm.write(skip.summary())
                skip_reported[0] = seen_bad
        return row

    def postfix(epoch: int, step: int, metrics: dict[str, Any], sums: Any) -> Any:
        if step % max(1, cfg.train.log_every):
            return None
        return {k: f"{float(v):.3g}" for k, v in metrics.items()
                if k in ("loss", "order_acc", "rate_mse")}

    train_loop(step_fn=step_fn, optimizer=optimizer, batches=batches, start=start,
               epochs=cfg.train.epochs, steps_per_epoch=steps, save=save, end_epoch=end_epoch,
               logger=logger, scheduler=scheduler, scaler=scaler,
               after_step=model.after_step, ctx=ctx,
               checkpoint_every=cfg.train.checkpoint_every, postfix=postfix,
               progress=progress, desc=f"pretrain {cfg.name}",
               stop_after_steps=stop_after_steps)
    return last_path


# Sections a pretraining does not depend on: evaluation settings may change without a re-run.
EVAL_SECTIONS = ("eval", "finetune")


def ensure_pretrained(cfg: Config, progress: bool, log: Log, tag: str, *,
                      what: str = "", restart_hint: str = "") -> Path:
    """The checkpoint of a finished pretraining in ``train.out_dir``: reused when it is done,
    resumed when it stopped early, started when absent. A folder pretrained with another
    experiment (evaluation sections and execution-only keys aside; without ``config.yaml``,
    the config the checkpoint stores) is refused, naming the first difference, ``what`` ran
    there and ``restart_hint`` (how to start again).
    ``vidssl compare`` (one row per method) and ``vidssl demo`` both decide here."""

    out = Path(cfg.train.out_dir)
    ckpt = out / "checkpoint.pt"
    restart = restart_hint or "start it again in another folder"
    old = recorded_config(out, ckpt, what or tag, restart)
    want = experiment_dict(cfg, drop=EVAL_SECTIONS)
    if old is not None and experiment_dict(old, drop=EVAL_SECTIONS) != want:
        diff = first_difference(experiment_dict(old, drop=EVAL_SECTIONS), want)
        raise RunDirError(f"{what or tag}: {out} was pretrained with another config ({diff}); "
                          f"{restart}")
    if ckpt.is_file():
        done = checkpoint_epoch(ckpt)
        if done >= cfg.train.epochs:
            log(f"[{tag}] pretraining: done ({done} epochs)")
            return ckpt
        log(f"[{tag}] pretraining: resuming at epoch {done} of {cfg.train.epochs}")
        return pretrain(cfg, resume=ckpt, progress=progress)
    log(f"[{tag}] pretraining: {cfg.train.epochs} epochs -> {out}")
    return pretrain(cfg, progress=progress)
