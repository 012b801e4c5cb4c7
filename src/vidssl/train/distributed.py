"""Process-group plumbing on PyTorch's own engine (``torchrun`` + DistributedDataParallel).

A single process is the degenerate case of the same code path: ``context()`` reads the variables
``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK) and only initialises a process group when there
is more than one process, so ``vidssl pretrain`` and ``torchrun -m vidssl pretrain`` share every
line of the training loop.

What changes under several processes is the trainer's part only: DDP averages gradients, only
rank 0 logs and writes checkpoints, every rank stops at the same step. What MoCo does under several
processes (keys gathered into every queue, shuffle-BN across ranks) is in the model's own MoCo
component (``vidssl.method.moco``), which reads the process group itself; the one exception is
``contrastive.key_bn: sync``, which swaps BatchNorm modules (:func:`convert_sync_bn`).

The epoch's sample order and how it reaches DataLoader workers is the data package's
(:mod:`vidssl.data.epochs`); devices and moving batches are :mod:`vidssl.devices`, the
trainer's device and fp16 loss scaling :mod:`vidssl.train.setup`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from vidssl.config import ConfigError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def context() -> DistContext:
    """The current process's place in the job; initialises the process group when needed."""
    if dist.is_available() and dist.is_initialized():
        # a group made by the caller (tests, notebooks): trust it over the environment
        rank, world = dist.get_rank(), dist.get_world_size()
        return DistContext(rank, world, int(os.environ.get("LOCAL_RANK", rank)))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(backend=backend)
    return DistContext(rank=rank, world_size=world, local_rank=local)


# --------------------------------------------------------------------------------------------
# Collectives (the key path's all-gather lives with MoCo: ``vidssl.method.moco``)
# --------------------------------------------------------------------------------------------


def _flag_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if (
        dist.get_backend() == "nccl") else torch.device("cpu")


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def any_rank(ctx: DistContext, flag: bool) -> bool:
    """True on every rank when any rank says True (so all ranks stop at the same step)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_flag_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def all_reduce_sum(ctx: DistContext, values: list[float]) -> list[float]:
    """Element-wise sums over all ranks (epoch metrics from per-rank counts)."""
    if not ctx.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_flag_device())
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """``obj`` of every rank, in rank order (a one-element list in a single process)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def convert_sync_bn(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """Every BatchNorm of ``model`` as SyncBatchNorm, for ``contrastive.key_bn: sync``.

    Statistics over the global batch are the only BN choice that lives outside the model's MoCo
    component, because the conversion swaps modules. PyTorch implements SyncBN on GPUs only, and
    in one process it would be plain BN over the whole batch: the very leak it is meant to stop.
    """
    if not ctx.distributed or next(model.parameters()).device.type != "cuda":
        raise ConfigError(
            "contrastive.key_bn: 'sync' (SyncBatchNorm) needs several GPU processes; use "
            "contrastive.key_bn=shuffle (the default) on CPU or on one device"
        )
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


# --------------------------------------------------------------------------------------------
# Model set-up: memory format, compile, DDP
# --------------------------------------------------------------------------------------------


def prepare_model(model: torch.nn.Module, ctx: DistContext, cfg: Any) -> torch.nn.Module:
    """Everything done to a freshly built model before the optimizer sees it.

    ``train.channels_last``: weights in ``channels_last_3d`` (cuDNN's fast layout for 3D
    convolutions with tensor cores; pair it with
    :func:`~vidssl.devices.batch_to_device`). ``train.compile``:
    each backbone is compiled *in place* (``Module.compile``), so state_dict keys, checkpoints
    and the optimizer's parameters are unchanged. ``contrastive.key_bn: sync`` converts BN to
    SyncBatchNorm (:func:`convert_sync_bn`); everything else about MoCo under several processes
    (shuffle-BN, gathering keys) is the model's own ``moco`` component's business.
    """
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    moco = getattr(model, "moco", None)
    if cfg.train.compile:
        for sub in (getattr(model, "backbone", None), getattr(moco, "key_backbone", None)):
            if isinstance(sub, torch.nn.Module):
                sub.compile()
    if moco is not None and cfg.contrastive.key_bn == "sync":
        model = convert_sync_bn(model, ctx)
    return model


def wrap_model(model: torch.nn.Module, ctx: DistContext, cfg: Any) -> torch.nn.Module:
    """DDP around the model when running several processes; the model itself otherwise."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = next(model.parameters()).device
    ids = [dev.index] if dev.type == "cuda" else None
    # a model that says every trainable weight gets a gradient each step spares DDP the search
    # for unused ones (an extra pass over the autograd graph); any other model may leave parts
    # unused, and DDP is told to look rather than hang waiting for gradients that never come
    unused = not getattr(model, "uses_all_parameters", False)
    return DDP(model, device_ids=ids, find_unused_parameters=unused)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") and isinstance(
        model, torch.nn.parallel.DistributedDataParallel) else model


# --------------------------------------------------------------------------------------------
# Precision
# --------------------------------------------------------------------------------------------


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision context for ``train.precision`` (fp32 = no autocast)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
