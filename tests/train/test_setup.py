"""The set-up every trainer shares: the learning-rate schedule (warmup, then step / cosine /
constant), the optimizers of each section, the device rule, fp16 scaling, and steps per epoch."""

from __future__ import annotations

import math

import pytest
import torch

from vidssl.config import load_config
from vidssl.errors import ConfigError, DataError
from vidssl.train.distributed import DistContext
from vidssl.train.setup import (
    build_finetune_optimizer,
    build_finetune_scheduler,
    build_optimizer,
    build_scheduler,
    grad_scaler,
    lr_factor,
    seed_everything,
    steps_in_epoch,
    training_device,
)


def test_warmup_then_cosine_reaches_zero_at_the_last_epoch() -> None:
    cfg = load_config(None, ["optim.schedule=cosine", "optim.warmup_epochs=1",
                             "train.epochs=5"])
    steps = 10
    assert lr_factor(cfg, 0, steps) == pytest.approx(0.1)  # first step of the warmup
    assert lr_factor(cfg, 9, steps) == pytest.approx(1.0)  # end of the warmup
    assert lr_factor(cfg, 10, steps) == pytest.approx(1.0)  # cosine starts at the peak
    assert lr_factor(cfg, 30, steps) == pytest.approx(0.5 * (1 + math.cos(math.pi / 2)))
    assert lr_factor(cfg, 50, steps) == pytest.approx(0.0, abs=1e-12)


def test_step_schedule_drops_by_gamma_at_each_milestone() -> None:
    cfg = load_config(None, ["optim.schedule=step", "optim.warmup_epochs=0",
                             "optim.milestones=[2,4]", "optim.gamma=0.1"])
    assert [lr_factor(cfg, e * 5, 5) for e in (0, 2, 4)] == pytest.approx([1.0, 0.1, 0.01])


def test_the_scheduler_steps_per_optimizer_step() -> None:
    cfg = load_config(None, ["optim.name=sgd", "optim.lr=0.5", "optim.schedule=constant",
                             "optim.warmup_epochs=2"])
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    assert isinstance(opt, torch.optim.SGD)
    sched = build_scheduler(opt, cfg, steps_per_epoch=4)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 / 8)
    for _ in range(8):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)


def test_fine_tuning_optimizer_leaves_frozen_weights_out_and_steps_per_epoch() -> None:
    cfg = load_config(None, ["finetune.optimizer=sgd", "finetune.lr=0.1",
                             "finetune.milestones=[1]", "optim.gamma=0.5"])
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model[0].requires_grad_(False)
    opt = build_finetune_optimizer(model, cfg)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == 6
    sched = build_finetune_scheduler(opt, cfg)
    opt.step()
    sched.step()  # one epoch
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_training_device_follows_the_one_device_rule() -> None:
    assert training_device(DistContext(), "cpu") == torch.device("cpu")
    assert training_device(DistContext(), "auto", override="cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="train.device=cuda"):
            training_device(DistContext(), "cuda")


def test_fp16_alone_scales_the_loss() -> None:
    assert grad_scaler(torch.device("cpu"), "fp16").is_enabled()
    assert not grad_scaler(torch.device("cpu"), "fp32").is_enabled()
    assert not grad_scaler(torch.device("cpu"), "bf16").is_enabled()


def test_seed_everything_repeats_the_draws() -> None:
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_steps_per_epoch_name_what_to_change() -> None:
    cfg = load_config(None, ["train.batch_size=8"])
    assert steps_in_epoch(cfg, 20) == 2
    assert steps_in_epoch(cfg, 20, world_size=2) == 1
    with pytest.raises(DataError, match="train.batch_size=8"):
        steps_in_epoch(cfg, 5)
    with pytest.raises(DataError, match="no videos"):
        steps_in_epoch(cfg, 0)
    assert steps_in_epoch(load_config(None, ["train.steps_per_epoch=7"]), 3) == 7
