"""Process-group plumbing on PyTorch's own engine (``torchrun`` + DistributedDataParallel).

A single process is the degenerate case of the same code path: ``context()`` reads the variables
``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK) and only initialises a process group when there
is more than one process, so ``vidssl pretrain`` and ``torchrun -m vidssl pretrain`` share every
line of the training loop.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


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
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistContext(rank=rank, world_size=world, local_rank=local)


def device_for(ctx: DistContext, name: str) -> torch.device:
    """The device this process trains on (``cuda:LOCAL_RANK`` under torchrun with GPUs)."""
    from vidssl.train.pretrain import resolve_device

    dev = resolve_device(name)
    if dev.type == "cuda" and ctx.distributed:
        return torch.device("cuda", ctx.local_rank)
    return dev


def wrap_model(model: torch.nn.Module, ctx: DistContext, cfg: Any) -> torch.nn.Module:
    """DDP around the model when running several processes; the model itself otherwise."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = next(model.parameters()).device
    ids = [dev.index] if dev.type == "cuda" else None
    # the heads that a method switches off get no gradient: tell DDP not to wait for them
    return DDP(model, device_ids=ids, find_unused_parameters=True)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") and isinstance(
        model, torch.nn.parallel.DistributedDataParallel) else model


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def any_rank(ctx: DistContext, flag: bool) -> bool:
    """True on every rank when any rank says True (so all ranks stop at the same step)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision context for ``train.precision`` (fp32 = no autocast)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
