"""Process-group plumbing on PyTorch's own engine (``torchrun`` + DistributedDataParallel).

A single process is the degenerate case of the same code path: ``context()`` reads the variables
``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK) and only initialises a process group when there
is more than one process, so ``vidssl pretrain`` and ``torchrun -m vidssl pretrain`` share every
line of the training loop.

What changes under several processes (DESIGN 3), installed by :func:`prepare_model`:

- *Keys enter every queue.* ``gather_keys`` becomes an all-gather in rank order, so after each
  step every rank enqueues the same ``world_size x batch`` keys and all queues stay identical
  (the negatives do not depend on which rank a query lands on).
- *BN must not leak the positive.* A key encoded in the same BN batch as its own query's
  sub-batch lets the network "cheat" through batch statistics. ``contrastive.key_bn`` chooses:
  ``shuffle`` (default, MoCo's shuffle-BN; works on CPU/gloo and GPU/NCCL): the key clips of all
  ranks are gathered, shuffled with a permutation drawn on rank 0 and broadcast, each rank
  encodes one shard, and the keys are gathered back and un-shuffled, so the key encoder's BN
  statistics on a rank come from other samples than that rank's queries. ``sync``: every
  BatchNorm of the query and key encoders becomes SyncBatchNorm (statistics over the global
  batch, as SimCLR / MoCo v3); PyTorch implements SyncBN on GPUs only.
- Gradients are averaged by DDP; only rank 0 logs and writes checkpoints (the trainer's job).

Data: :class:`EpochIndexed` lets the loader's *sampler* carry the epoch to the dataset as
``(epoch, index)`` pairs, because persistent DataLoader workers keep their own copy of the
dataset and never see a ``set_epoch`` made in the main process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

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


def device_for(ctx: DistContext, name: str) -> torch.device:
    """The device this process trains on (``cuda:LOCAL_RANK`` under torchrun with GPUs)."""
    from vidssl.train.pretrain import resolve_device

    dev = resolve_device(name)
    if dev.type == "cuda" and ctx.distributed:
        return torch.device("cuda", ctx.local_rank)
    return dev


# --------------------------------------------------------------------------------------------
# Collectives
# --------------------------------------------------------------------------------------------


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` (same shape on every rank) from all ranks along dim 0, in rank order.

    No gradient flows through it: it serves the key path, which runs without gradient.
    """
    world = dist.get_world_size()
    t = t.contiguous()
    if dist.get_backend() == "nccl":
        out = torch.empty((world * t.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device)
        dist.all_gather_into_tensor(out, t)
        return out
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t)
    return torch.cat(parts)


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


# --------------------------------------------------------------------------------------------
# The key path under DDP (shuffle-BN / SyncBN) and the shared queue
# --------------------------------------------------------------------------------------------


def shuffle_bn_encoder(encode: Callable[[torch.Tensor], torch.Tensor],
                       is_training: Callable[[], bool]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap ``encode(x) -> keys`` with MoCo's shuffle-BN across all ranks.

    Every rank calls it with a batch of the same size ``b`` (the loader drops the last partial
    batch). While ``is_training()`` is False (evaluation: BN reads running statistics, and only
    rank 0 may be running) it is ``encode`` itself, with no collective.
    """

    def encode_shuffled(x: torch.Tensor) -> torch.Tensor:
        if not is_training():
            return encode(x)
        rank, world = dist.get_rank(), dist.get_world_size()
        b = x.shape[0]
        everyone = all_gather_cat(x)
        # rank 0 draws from its own torch RNG (checkpointed), everyone follows
        perm = torch.randperm(world * b) if rank == 0 else torch.empty(world * b,
                                                                      dtype=torch.long)
        perm = perm.to(x.device)
        dist.broadcast(perm, src=0)
        mine = perm[rank * b:(rank + 1) * b]
        keys = all_gather_cat(encode(everyone.index_select(0, mine)))
        # keys[j] belongs to everyone[perm[j]]: sample i sits at j = argsort(perm)[i]
        back = torch.argsort(perm)[rank * b:(rank + 1) * b]
        return keys.index_select(0, back)

    return encode_shuffled


def prepare_for_ddp(model: torch.nn.Module, ctx: DistContext, cfg: Any) -> torch.nn.Module:
    """Install the multi-process key path on a pretext model (before DDP wraps it).

    Replaces, on the instance, ``gather_keys`` by an all-gather and (``key_bn: shuffle``)
    ``encode_keys`` by its shuffle-BN version, or converts BatchNorm to SyncBatchNorm
    (``key_bn: sync``). Models without a key path (baselines, contrastive weight 0) and single
    processes are returned unchanged. Returns the model (the same object).
    """
    if not ctx.distributed or getattr(model, "key_backbone", None) is None:
        return model
    mode = getattr(cfg.contrastive, "key_bn", "shuffle")
    if mode == "sync":
        if next(model.parameters()).device.type != "cuda":
            raise ConfigError(
                "contrastive.key_bn: 'sync' (SyncBatchNorm) needs GPUs in PyTorch; use "
                "contrastive.key_bn=shuffle on CPU"
            )
        convert = torch.nn.SyncBatchNorm.convert_sync_batchnorm
        model.backbone = convert(model.backbone)
        model.key_backbone = convert(model.key_backbone)
    elif mode == "shuffle":
        key_backbone = model.key_backbone
        model.encode_keys = shuffle_bn_encoder(model.encode_keys,
                                               lambda: bool(key_backbone.training))
    else:
        raise ConfigError(f"contrastive.key_bn must be shuffle or sync; got '{mode}'")
    model.gather_keys = all_gather_cat
    return model


# --------------------------------------------------------------------------------------------
# Model set-up: memory format, compile, DDP
# --------------------------------------------------------------------------------------------


def prepare_model(model: torch.nn.Module, ctx: DistContext, cfg: Any) -> torch.nn.Module:
    """Everything done to a freshly built model before the optimizer sees it.

    ``train.channels_last``: weights in ``channels_last_3d`` (cuDNN's fast layout for 3D
    convolutions with tensor cores; pair it with :func:`batch_to_device`). ``train.compile``:
    each backbone is compiled *in place* (``Module.compile``), so state_dict keys, checkpoints
    and the optimizer's parameters are unchanged. Then :func:`prepare_for_ddp`.
    """
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    if cfg.train.compile:
        for name in ("backbone", "key_backbone"):
            sub = getattr(model, name, None)
            if isinstance(sub, torch.nn.Module):
                sub.compile()
    return prepare_for_ddp(model, ctx, cfg)


def wrap_model(model: torch.nn.Module, ctx: DistContext, cfg: Any) -> torch.nn.Module:
    """DDP around the model when running several processes; the model itself otherwise."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = next(model.parameters()).device
    ids = [dev.index] if dev.type == "cuda" else None
    return DDP(model, device_ids=ids, find_unused_parameters=_may_skip_parameters(model))


def _may_skip_parameters(model: torch.nn.Module) -> bool:
    """Whether a training forward may leave trainable parameters without a gradient.

    Our pretext model builds only the heads its loss uses, and the fine-tuning classifier uses
    all of its trainable weights, so DDP need not search the graph for unused ones each step
    (an extra pass over the autograd graph). Other models (baselines) may switch parts off:
    DDP is told to look, rather than hang waiting for gradients that never come.
    """
    from vidssl.eval.recognition import VideoClassifier
    from vidssl.method.multitask import PretextModel

    return not isinstance(model, (PretextModel, VideoClassifier))


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") and isinstance(
        model, torch.nn.parallel.DistributedDataParallel) else model


def batch_to_device(batch: dict[str, Any], device: torch.device,
                    channels_last: bool = False) -> dict[str, Any]:
    """Move a batch (non-blocking from pinned memory on GPU); 5-D clips to channels_last_3d."""
    nb = device.type == "cuda"
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=nb)
            if channels_last and v.dim() == 5 and v.is_floating_point():
                v = v.contiguous(memory_format=torch.channels_last_3d)
        out[k] = v
    return out


# --------------------------------------------------------------------------------------------
# Precision
# --------------------------------------------------------------------------------------------


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision context for ``train.precision`` (fp32 = no autocast)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (its 5-bit exponent underflows small gradients); a disabled scaler
    (a pass-through) for bf16 and fp32, so the training step is written once."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


# --------------------------------------------------------------------------------------------
# Data: the epoch travels with the index
# --------------------------------------------------------------------------------------------


class EpochIndexed(Dataset):
    """A dataset indexed by ``(epoch, index)`` pairs (or plain ints) over one with ``set_epoch``.

    Persistent workers hold a copy of the dataset made when they started; ``set_epoch`` in the
    main process would never reach them, and every epoch would repeat epoch 0's random draws.
    With the epoch inside each index, each worker's copy sets its own epoch before reading.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._epoch: int | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        # skip_log, source, ... of the wrapped dataset (no recursion before __init__ ran)
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        if isinstance(key, tuple):
            epoch, index = key
            if epoch != self._epoch and hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(int(epoch))
                self._epoch = int(epoch)
            return self.dataset[int(index)]
        return self.dataset[int(key)]
