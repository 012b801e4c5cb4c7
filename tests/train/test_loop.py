"""The shared training loop: what a resumed epoch logs."""

from __future__ import annotations

from typing import Any

import torch

from vidssl.train.loop import Position, restore_training_state, train_loop, training_state

STEPS = 3  # per epoch


class _Rows:
    """A logger that keeps the rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def log(self, row: dict[str, Any], step: int | None = None) -> None:
        self.rows.append(row)

    def close(self) -> None:
        pass


def _train(start: Position | None = None, saved: dict[str, Any] | None = None,
           stop_after_steps: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Two epochs of a one-weight model whose step metric ``v`` is the step's place in its
    epoch (0, 1, 2): an epoch's mean of ``v`` is 1.0 exactly when all its steps are counted."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([w], lr=0.1)
    if saved is not None:
        with torch.no_grad():
            w.copy_(saved["w"])
        start = restore_training_state(saved, "ckpt", {"optimizer": opt})
    logger, checkpoints = _Rows(), {}

    def step_fn(i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        loss = (w * (i + 1)).sum()
        return loss, {"v": torch.tensor(float(i)), "loss": loss.detach()}

    def save(pos: Position) -> None:
        checkpoints["last"] = {"w": w.detach().clone(), **training_state(pos, {"optimizer": opt})}

    def end_epoch(e: Any) -> dict[str, Any]:
        return {"epoch": e.epoch + 1, "steps": e.batches,
                **{k: float(v) / e.batches for k, v in e.sums.items()}}

    train_loop(step_fn=step_fn, optimizer=opt, batches=lambda epoch, at: range(at, STEPS),
               start=start or Position(), epochs=2, steps_per_epoch=STEPS, save=save,
               end_epoch=end_epoch, logger=logger, progress=False,
               stop_after_steps=stop_after_steps)
    return logger.rows, checkpoints["last"]


def test_an_epoch_resumed_in_its_middle_logs_the_means_of_an_uninterrupted_one() -> None:
    straight, _ = _train()
    first, ckpt = _train(stop_after_steps=STEPS + 1)  # stopped after step 1 of epoch 2
    assert ckpt["epoch_step"] == 1 and ckpt["epoch_metrics"]["batches"] == 1
    rest, _ = _train(saved=ckpt)
    assert first + rest == straight  # the same rows, the second epoch over all three steps
    assert straight[1]["v"] == 1.0 and straight[1]["steps"] == STEPS


def test_a_checkpoint_without_the_epochs_sums_logs_the_mean_of_the_steps_run() -> None:
    """A mid-epoch checkpoint written before checkpoints carried the epoch's sums: the
    resumed epoch's row is the mean over the steps this run did (places 1 and 2), never
    their sum divided by the epoch's full length."""
    _, ckpt = _train(stop_after_steps=STEPS + 1)
    del ckpt["epoch_metrics"]
    rest, _ = _train(saved=ckpt)
    assert rest[0]["epoch"] == 2 and rest[0]["steps"] == 2 and rest[0]["v"] == 1.5
