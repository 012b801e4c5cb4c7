"""The one training loop: pretraining, supervised training, fine-tuning and the view module.

A caller says *what* one step computes (``step_fn``: a batch -> ``(loss, metrics)``), which
batches an epoch sees (``batches``), how a checkpoint is written (``save``) and what an epoch's
row holds (``end_epoch``). The loop owns everything that must behave the same in every command:

- *the step*: precision (autocast + GradScaler), zero_grad / backward / optimizer step, the
  per-step schedule, the model's ``after_step`` (e.g. MoCo's momentum update);
- *the NaN guard*: a non-finite loss term stops the run naming the step and the term, before
  the optimizer moves, so the checkpoint on disk is always the last good state;
- *safe stop*: Ctrl-C / SIGTERM (and ``stop_after_steps``, for tests) stop at a step boundary;
  a mid-epoch checkpoint is written where the caller can resume mid-epoch, and
  :class:`Interrupted` is raised once it is safely on disk;
- *checkpoints and resume*: when to write (``checkpoint_every``, the last epoch, a stop), and
  the entries every training checkpoint shares (:func:`training_state`,
  :func:`restore_training_state`: optimizers, schedule, scaler, position, RNG), so that a run
  stopped at any step resumes to the same weights as an uninterrupted one;
- *metrics and progress*: per-epoch sums of the step metrics, one logged row per epoch (a
  mid-epoch checkpoint carries the sums so far, so a resumed epoch logs the means of an
  uninterrupted one), the progress bar;
- *DDP*: a stop request on any rank stops every rank at the same step.

What stays with the callers: building the model, data and optimizers from the config, the
run-folder rules (:mod:`vidssl.train.run_dir`) and the checkpoint's own entries (weights,
config, history), because those differ by command.
"""

from __future__ import annotations

import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from vidssl.config import ConfigError
from vidssl.errors import (
    NonFiniteLossError,  # noqa: F401 - raised here, public here
    RunDirError,
)
from vidssl.progress import progress as progress_bar
from vidssl.train import distributed as dist_utils
from vidssl.train.checkpoint import (
    CheckpointError,
    checkpoint_config,
    load_checkpoint,
    require_keys,
    rng_state,
    set_rng_state,
)
from vidssl.train.run_dir import config_changes


class Interrupted(KeyboardInterrupt):
    """Raised after the checkpoint of a stopped run is safely written."""


class StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop at the next step boundary, so the checkpoint it
    writes is a consistent state (never half an optimizer step). A second Ctrl-C stops at once.
    """

    def __init__(self, message: str = "vidssl: stopping after this step and writing a "
                 "checkpoint (Ctrl-C again to stop now, without one)") -> None:
        self.requested = False
        self.message = message
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write(self.message)

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: signals stay as they are
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, prev in self._previous.items():
            signal.signal(sig, prev)


def check_finite(metrics: dict[str, Any], loss: torch.Tensor, step: int,
                 guard: Sequence[str] | None = None, where: str = "the last good checkpoint "
                 "is kept", what: str = "loss") -> None:
    """Raise naming the first non-finite loss term (one device sync for all terms).

    ``guard`` names the metrics checked beside ``loss`` (default: every ``loss_*`` term);
    metrics may be tensors or Python numbers.
    """
    names = ["loss"] + [k for k in metrics if (k.startswith("loss_") if guard is None
                                               else k in guard and k != "loss")]
    values = torch.stack([torch.as_tensor(loss).detach().float().reshape(())] +
                         [torch.as_tensor(metrics[k]).detach().float().reshape(())
                          for k in names[1:]])
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        bad = [n for n, ok, v in zip(names, finite.tolist(), values.tolist()) if not ok]
        term = next((n for n in bad if n != "loss"), "loss")
        raise NonFiniteLossError(
            f"non-finite {what} at step {step}: {term} = "
            f"{values[names.index(term)].item()} (all non-finite terms: {', '.join(bad)}); "
            f"{where}"
        )


@dataclass
class Position:
    """Where a run is: completed epochs, optimizer steps done, steps done in this epoch, and,
    inside an epoch, what its steps so far measured (``sums`` of the step metrics over
    ``batches`` steps, in ``seconds``): a run stopped mid-epoch and resumed then logs the
    epoch's row over all its steps, as an uninterrupted run does."""

    epoch: int = 0
    step: int = 0
    epoch_step: int = 0
    sums: dict[str, Any] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0


@dataclass
class EpochEnd:
    """What ``end_epoch`` gets to build the epoch's row from."""

    epoch: int  # the epoch just finished, 0-based
    step: int
    sums: dict[str, Any] = field(default_factory=dict)  # sums of the step metrics
    # steps summed: all of the epoch's, also those before a mid-epoch stop when the checkpoint
    # carried their sums (older checkpoints did not: then only this call's steps)
    batches: int = 0
    seconds: float = 0.0
    last: bool = False


def training_state(pos: Position, optimizers: dict[str, torch.optim.Optimizer],
                   scheduler: Any = None, scaler: Any = None) -> dict[str, Any]:
    """The checkpoint entries every training run shares: optimizer(s) under their names
    (``optimizer`` for the main one), ``scheduler``, ``scaler`` (fp16 only), ``epoch``,
    ``step``, ``epoch_step``, the torch RNG under ``rng`` and, inside an epoch,
    ``epoch_metrics`` (the epoch's metric sums so far as numbers, ``batches``, ``seconds``)."""
    state: dict[str, Any] = {name: opt.state_dict() for name, opt in optimizers.items()}
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if scaler is not None and scaler.is_enabled():
        state["scaler"] = scaler.state_dict()
    state.update(epoch=pos.epoch, step=pos.step, epoch_step=pos.epoch_step, rng=rng_state())
    if pos.epoch_step and pos.batches:
        # numbers, not device tensors: a float32 sum read back as a Python float is exact, so
        # the resumed sums continue bit for bit
        state["epoch_metrics"] = {
            "sums": {k: v.item() if isinstance(v, torch.Tensor) else v
                     for k, v in pos.sums.items()},
            "batches": pos.batches, "seconds": pos.seconds}
    return state


def restore_training_state(ckpt: dict[str, Any], path: Any,
                           optimizers: dict[str, torch.optim.Optimizer], scheduler: Any = None,
                           scaler: Any = None, rng: bool = True) -> Position:
    """Load what :func:`training_state` wrote; returns the saved position."""
    try:
        for name, opt in optimizers.items():
            opt.load_state_dict(ckpt[name])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and "scaler" in ckpt and scaler.is_enabled():
            scaler.load_state_dict(ckpt["scaler"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: damaged checkpoint, its optimizer state does not fit "
                              f"({type(exc).__name__}: {str(exc)[:160]})") from None
    if rng:
        set_rng_state(ckpt["rng"])
    pos = Position(int(ckpt["epoch"]), int(ckpt.get("step", 0)), int(ckpt.get("epoch_step", 0)))
    partial = ckpt.get("epoch_metrics")
    if pos.epoch_step and isinstance(partial, dict) and isinstance(partial.get("sums"), dict):
        pos.sums = dict(partial["sums"])
        pos.batches = int(partial.get("batches", 0))
        pos.seconds = float(partial.get("seconds", 0.0))
    return pos


def resume_state(cfg: Any, out: Path, resume: str | Path, overwrite: bool, is_main: bool, *,
                 kind: str, keys: Sequence[str], checkpoint_name: str
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The checkpoint to continue and the run's history of changed settings, after checking
    that it is a ``kind`` checkpoint of this run (see ``MAY_CHANGE_ON_RESUME``) and that
    resuming into ``out`` overwrites no other run's checkpoint."""
    resume = Path(resume)
    ckpt = load_checkpoint(resume, map_location="cpu", kind=kind)
    require_keys(ckpt, resume, tuple(keys))
    old = checkpoint_config(ckpt, resume)
    changes = config_changes(old.to_dict(), cfg.to_dict(), f"--resume {resume}")
    done = int(ckpt["epoch"])
    if cfg.train.epochs < done:
        raise ConfigError(f"train.epochs={cfg.train.epochs}, but {resume} has already done "
                          f"{done} epochs; resume with train.epochs >= {done}")
    target = out / checkpoint_name
    if is_main and target.is_file() and not overwrite and not target.samefile(resume):
        raise RunDirError(
            f"{out} holds another run's {checkpoint_name}; resuming {resume} there would "
            "overwrite it: choose another output folder, or add --overwrite"
        )
    history = list(ckpt.get("history", []))
    if changes:
        history.append({"epoch": done, "step": int(ckpt.get("step", 0)), "changed": changes})
        if is_main:
            tqdm.write("vidssl: resuming with changed settings: " + ", ".join(
                f"{k} {v[0]!r} -> {v[1]!r}" for k, v in changes.items()), file=sys.stderr)
    return ckpt, history


def train_loop(
    *,
    step_fn: Callable[[Any], tuple[torch.Tensor, dict[str, Any]]],
    optimizer: torch.optim.Optimizer,
    batches: Callable[[int, int], Iterable[Any]],
    start: Position,
    epochs: int,
    steps_per_epoch: int,
    save: Callable[[Position], None],
    end_epoch: Callable[[EpochEnd], dict[str, Any]],
    logger: Any,
    scheduler: Any = None,
    scaler: Any = None,
    after_step: Callable[[], None] | None = None,
    ctx: Any = None,
    checkpoint_every: int = 1,
    resumable_mid_epoch: bool = True,
    guard: Sequence[str] | None = None,
    nan_where: str = "the last good checkpoint is kept",
    nan_what: str = "loss",
    log_step: bool = True,
    postfix: Callable[[int, int, dict[str, Any], dict[str, Any]], dict[str, Any] | None]
    | None = None,
    progress: bool = True,
    desc: str = "train",
    stop_after_steps: int = 0,
    stop_message: str | None = None,
) -> Position:
    """Train from ``start`` to the end of epoch ``epochs``; returns the final position.

    ``batches(epoch, epoch_step)``: the epoch's batches from ``epoch_step`` on (the loader
    prepares its own epoch). ``step_fn(batch)``: the forward pass (under autocast) returning
    the loss and the step's metrics (tensors or numbers; they are summed per epoch).
    ``save(position)`` writes the checkpoint (every rank calls it: it may hold collectives).
    ``end_epoch`` returns the epoch's row, logged with ``step`` (or ``epoch``) as the x axis.
    ``resumable_mid_epoch=False``: a stop inside an epoch writes nothing (the last epoch's
    checkpoint is what a resume continues). ``stop_after_steps`` > 0 stops after that many
    steps of this call as a Ctrl-C would, and returns instead of raising (tests).
    """
    ctx = ctx if ctx is not None else dist_utils.DistContext()
    pos = Position(start.epoch, start.step, start.epoch_step)
    bar = progress_bar(total=epochs * steps_per_epoch, initial=pos.step,
                       disable=not (progress and ctx.is_main), desc=desc, unit="step")
    steps_this_call = 0
    stop_kw = {} if stop_message is None else {"message": stop_message}
    try:
        with StopRequest(**stop_kw) as stop:
            for epoch in range(start.epoch, epochs):
                pos.epoch = epoch
                # an epoch resumed in its middle goes on from the sums its checkpoint carried
                resumed = epoch == start.epoch and start.epoch_step > 0
                sums: dict[str, Any] = dict(start.sums) if resumed else {}
                n_seen = start.batches if resumed else 0
                t0 = time.perf_counter() - (start.seconds if resumed else 0.0)
                for batch in batches(epoch, pos.epoch_step):
                    loss, metrics = step_fn(batch)
                    check_finite(metrics, loss, pos.step + 1, guard, nan_where, nan_what)
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        optimizer.step()
                    if after_step is not None:
                        after_step()
                    if scheduler is not None:
                        with warnings.catch_warnings():
                            # fp16: a step the GradScaler skipped (inf gradients) still moves
                            # the per-step schedule on, as intended; torch would warn about it
                            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler")
                            scheduler.step()
                    pos.step += 1
                    pos.epoch_step += 1
                    steps_this_call += 1
                    for k, v in metrics.items():
                        add = v.detach().float() if isinstance(v, torch.Tensor) else v
                        sums[k] = sums.get(k, 0) + add
                    n_seen += 1
                    bar.update(1)
                    shown = postfix(epoch, pos.step, metrics, sums) if postfix else None
                    if shown:
                        bar.set_postfix(shown, refresh=False)
                    if stop_after_steps and steps_this_call >= stop_after_steps:
                        stop.requested = True
                    if (dist_utils.any_rank(ctx, stop.requested)
                            and pos.epoch_step < steps_per_epoch):
                        if resumable_mid_epoch:
                            pos.sums, pos.batches = sums, n_seen
                            pos.seconds = time.perf_counter() - t0
                            save(pos)
                        raise Interrupted
                last = epoch + 1 == epochs
                row = end_epoch(EpochEnd(epoch, pos.step, sums, n_seen,
                                         time.perf_counter() - t0, last))
                pos.epoch, pos.epoch_step = epoch + 1, 0
                pos.sums, pos.batches, pos.seconds = {}, 0, 0.0
                logger.log(row, step=pos.step if log_step else None)
                stopping = dist_utils.any_rank(ctx, stop.requested)
                if last or stopping or (epoch + 1) % max(1, checkpoint_every) == 0:
                    save(pos)
                if stopping and not last:
                    raise Interrupted
    except Interrupted:
        if not (stop_after_steps and steps_this_call >= stop_after_steps):
            raise
    finally:
        bar.close()
        logger.close()
    return pos
