"""MoCo, whole (DESIGN section 3): momentum key encoder, FIFO key queue, InfoNCE, shuffle-BN and
the all-gather of keys, in one component that a model holds.

The key encoder trails the query encoder, ``theta_k <- m theta_k + (1 - m) theta_q``, so the
keys in the queue were all made by nearly the same network and stay comparable across many
steps; the queue supplies thousands of negatives without a large batch.

Batch-norm must not leak the positive (MoCo section 3.3). A query and its key come from the same
video; if both are normalised with statistics of the same samples, the network can find its
positive through the batch statistics alone (the "signature" of the sub-batch) instead of through
the video's content, and instance discrimination becomes a shortcut. :class:`MoCo` closes this in
one code path for one process and for ``torchrun``: the queries of a process are encoded in
``bn_splits`` sub-batches (each with its own BN statistics), the key clips of all processes are
interleaved across the sub-batches of all processes before the key encoder and put back after, so
no key is normalised with the statistics of its own query's sub-batch (``key_bn: shuffle``, the
default; :func:`bn_splits_for` says how many sub-batches that takes). The sub-batches go through
the backbone in one pass: MoCo turns the encoder's BatchNorm layers into split ones
(:mod:`vidssl.models.split_bn`) that normalise each sub-batch by its own statistics. ``sync``
(SyncBatchNorm over all GPUs, as MoCo v3) and ``none`` (one BN batch, the leak kept on purpose
for the ablation) are the alternatives.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from vidssl.errors import ConfigError
from vidssl.method.similarity import positive_logits, similarity_logits
from vidssl.models import split_bn
from vidssl.models.heads import ProjectionHead

if TYPE_CHECKING:
    from vidssl.config import Config

KEY_BN_MODES = ("shuffle", "sync", "none")


@torch.no_grad()
def momentum_update(key_params: Iterable[Tensor], query_params: Iterable[Tensor], m: float) -> None:
    """``theta_k <- m theta_k + (1 - m) theta_q`` for every pair, in place.

    One fused ``_foreach_lerp_`` over all tensors (``k + (1-m)(q - k)`` is the same update):
    a per-parameter Python loop would launch two kernels per tensor every step.
    """
    keys = list(key_params)
    queries = list(query_params)
    if len(keys) != len(queries):
        raise ValueError(f"key encoder has {len(keys)} tensors, query encoder {len(queries)}")
    if not keys:
        return
    torch._foreach_lerp_(keys, queries, 1.0 - m)


class KeyQueue(nn.Module):
    """A fixed-length FIFO of past keys, kept as a ring buffer.

    ``keys`` (size, dim) and the write pointer ``ptr`` are buffers, so the queue is saved in and
    restored from the model's ``state_dict`` and moves with ``.to(device)``. Enqueueing writes
    over the oldest entries; the length never changes. The pointer stays a device tensor so an
    enqueue never waits for the GPU (no ``.item()``).

    The queue starts filled with random unit vectors, as in MoCo: they act as uninformative
    negatives until the first ``size / batch`` steps have replaced them.

    ``ids`` (size,) holds the video index each key came from (-1: unknown, e.g. the initial
    random keys), so :class:`MoCo` can keep a query's own video out of its negatives. A
    checkpoint written before ``ids`` existed loads with every id unknown.
    """

    keys: Tensor
    ptr: Tensor
    ids: Tensor

    def __init__(self, size: int, dim: int, seed: int = 0) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be >= 1; got {size}, {dim}")
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=g), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))
        self._register_load_state_dict_pre_hook(_ids_unknown_if_missing)

    def upgrade_state_dict(self, state: dict[str, Any], prefix: str) -> None:
        """Bring a saved state from an older vidssl up to this one, in place (called by
        ``train.checkpoint.load_weights`` before it checks the keys)."""
        _ids_unknown_if_missing(state, prefix)

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, new: Tensor, ids: Tensor | None = None) -> None:
        """Append ``new`` (b, dim) and their video ids (b,) (None: unknown), overwriting the
        ``b`` oldest entries (the last ``size`` if ``b > size``)."""
        if new.dim() != 2 or new.shape[1] != self.keys.shape[1]:
            raise ValueError(
                f"keys must be (b, {self.keys.shape[1]}); got shape {tuple(new.shape)}"
            )
        if ids is not None and ids.shape != new.shape[:1]:
            raise ValueError(f"ids must be ({new.shape[0]},); got shape {tuple(ids.shape)}")
        new = new.detach()[-self.size :].to(self.keys.dtype)
        b = new.shape[0]
        idx = (self.ptr + torch.arange(b, device=self.keys.device)) % self.size
        self.keys.index_copy_(0, idx, new)
        new_ids = (torch.full((b,), -1, dtype=torch.long, device=self.ids.device)
                   if ids is None else ids.detach()[-self.size:].to(self.ids))
        self.ids.index_copy_(0, idx, new_ids)
        self.ptr.copy_((self.ptr + b) % self.size)

    def newest_first(self) -> Tensor:
        """All entries ordered from the most recently enqueued to the oldest: ``(size, dim)``."""
        idx = (self.ptr - 1 - torch.arange(self.size, device=self.keys.device)) % self.size
        return self.keys.index_select(0, idx)


_told_about_ids = False


def _ids_unknown_if_missing(state: dict[str, Any], prefix: str, *_: Any) -> None:
    """A queue saved before it kept video ids: load it with every id unknown (-1), and say
    once what that means for a resumed run."""
    global _told_about_ids
    if prefix + "keys" in state and prefix + "ids" not in state:
        size = state[prefix + "keys"].shape[0]
        state[prefix + "ids"] = torch.full((size,), -1, dtype=torch.long)
        if not _told_about_ids:
            _told_about_ids = True
            print("vidssl: note: this checkpoint's key queue predates video ids: from here on "
                  "keys of a query's own video are no negatives (contrastive.exclude_own_video, "
                  "default true since 2026-11-27; false keeps the old loss)", file=sys.stderr)


def info_nce(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
    """InfoNCE over ``[positive, negatives]`` with logits already divided by the temperature.

    Args:
        pos: ``(B,)`` logit of each query against its own key.
        neg: ``(B, K)`` logits against the queue.

    Returns:
        ``(loss, acc)``: the mean cross-entropy with the positive as class 0, and the fraction of
        queries whose positive beats every negative (a detached diagnostic).
    """
    logits = torch.cat([pos[:, None], neg], dim=1)
    loss = torch.logsumexp(logits, dim=1).sub(pos).mean()
    with torch.no_grad():
        acc = (pos > neg.max(dim=1).values).float().mean()
    return loss, acc


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Run ``module`` in eval mode (BN running stats read, not updated), then restore."""
    was = module.training
    module.train(False)
    try:
        yield
    finally:
        module.train(was)


# --------------------------------------------------------------------------------------------
# Collectives (the key path runs without gradient, so none flows through them)
# --------------------------------------------------------------------------------------------


def world_size() -> int:
    """Processes in the job: 1 unless a ``torch.distributed`` process group is running."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def all_gather_cat(t: Tensor) -> Tensor:
    """Concatenate ``t`` (same shape on every rank) from all ranks along dim 0, in rank order."""
    if world_size() == 1:
        return t
    world = dist.get_world_size()
    t = t.contiguous()
    if dist.get_backend() == "nccl":
        out = torch.empty((world * t.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device)
        dist.all_gather_into_tensor(out, t)
        return out
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t)
    return torch.cat(parts)


def split_forward(fn: Callable[[Tensor], Tensor], x: Tensor, splits: int,
                  modules: Sequence[nn.Module] | None = None) -> Tensor:
    """``fn`` applied to ``splits`` consecutive equal sub-batches of ``x``, each normalised by
    BatchNorm with its own statistics in train mode (MoCo's split-BN), concatenated.

    ``modules``: those ``fn`` runs (default ``fn`` itself). When all their BatchNorm layers can
    normalise groups (:mod:`vidssl.models.split_bn`, which :class:`MoCo` converts them to) this
    is one pass of ``fn`` over the whole batch, and BN running statistics move once with the
    groups' average; otherwise (a BN subclass, or no BN at all, so nothing says how samples are
    coupled) one pass per sub-batch, updating running statistics once per sub-batch.
    """
    if splits <= 1:
        return fn(x)
    if modules is None:
        modules = [fn] if isinstance(fn, nn.Module) else []
    layers = split_bn.group_layers(modules)
    if layers is None:
        return torch.cat([fn(part) for part in x.chunk(splits)])
    return split_bn.grouped_forward(fn, x, splits, layers)


@functools.lru_cache(maxsize=64)
def bn_splits_for(batch: int, world: int = 1) -> int:
    """The fewest BN sub-batches per process that keep every query's BN group and its key's BN
    group from sharing any sample but the query's own video.

    Queries are encoded in consecutive groups of ``m = batch / s`` samples; keys are dealt out
    over all ``world * s`` groups (:func:`interleave`), so a key group holds at most one sample
    of any query group exactly when ``m <= world * s``. The smallest divisor ``s`` of ``batch``
    meeting that: 4 for a batch of 16 in one process (groups of 4), 2 for 16 per process on
    four processes. A prime batch size falls back to groups of one sample.
    """
    if batch < 1 or world < 1:
        raise ValueError(f"batch and world must be >= 1; got {batch}, {world}")
    return next(s for s in range(1, batch + 1) if batch % s == 0 and batch // s <= world * s)


def interleave(n: int, groups: int, device: torch.device | None = None) -> Tensor:
    """The permutation that deals ``n`` samples out to ``groups`` BN groups like cards.

    Position ``j`` of the result holds sample ``perm[j]``; cut into ``groups`` consecutive equal
    groups, group ``g`` holds the samples ``i`` with ``i % groups == g``. Consecutive samples
    land in different groups, so a block of at most ``groups`` consecutive samples (a query
    group, see :func:`bn_splits_for`) is spread one per key group. A fixed deal guarantees this
    even for tiny batches (a random shuffle only makes it likely) and needs no random state, so
    resuming stays exact; the loader already changes which videos share a batch every step.
    """
    i = torch.arange(n, device=device)
    return torch.argsort((i % groups) * n + i)


# --------------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------------


class MoCo(nn.Module):
    """The contrastive term of a model: projection head, momentum key encoder, queue, InfoNCE.

    Built from plain numbers; the model that holds it keeps the query encoder (shared with its
    other heads) and passes it in. The step protocol (``vidssl.method.order_rate_moco``)::

        feats = moco.encode_queries(encoder, clip)       # split-BN sub-batches when training
        loss, acc = moco.loss(feats, key_clip, training) # keys computed, held for after_step
        loss.backward(); optimizer.step()
        moco.after_step(encoder)                         # momentum update, enqueue all ranks' keys

    Args:
        encoder: the query encoder (backbone); the key encoder starts as an exact copy of it.
        feature_dim: its output size.
        dim: the projection size ``d`` (a multiple of ``chunks`` for shuffle similarity).
        queue_size: negatives kept ``K``.
        momentum: ``m`` of the key encoder's update.
        temperature: ``tau`` of the InfoNCE logits.
        hidden: the projection head's hidden size (0 = ``feature_dim``).
        similarity / chunks / matching: the logit (DESIGN section 4): ``cosine`` or ``shuffle``.
        key_bn: ``shuffle`` | ``sync`` | ``none`` (module docstring).
        exclude_own_video: drop queue entries made from the query's own video from its
            negatives (needs the batch's video ids): when the queue holds more keys than an
            epoch has videos, older keys of the query's video sit in the queue, and InfoNCE would
            push the query away from its own video while pulling it to the positive.
        bn_splits: BN sub-batches per process for ``shuffle`` (must divide the batch); 0 = the
            fewest that give the guarantee of :func:`bn_splits_for`.
        seed: the queue's initial random keys.
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, dim: int, queue_size: int,
                 momentum: float, temperature: float, *, hidden: int = 0,
                 similarity: str = "shuffle", chunks: int = 1, matching: str = "greedy",
                 key_bn: str = "shuffle", bn_splits: int = 0, exclude_own_video: bool = True,
                 seed: int = 0) -> None:
        super().__init__()
        if key_bn not in KEY_BN_MODES:
            raise ValueError(f"key_bn must be one of {KEY_BN_MODES}; got {key_bn!r}")
        if bn_splits < 0:
            raise ValueError(f"bn_splits must be >= 0; got {bn_splits}")
        self.tau, self.momentum = float(temperature), float(momentum)
        self.similarity = {"kind": similarity, "chunks": chunks, "matching": matching}
        self.key_bn, self.bn_splits = key_bn, int(bn_splits)
        self.exclude_own_video = bool(exclude_own_video)
        if key_bn == "shuffle":  # BN sub-batches in one backbone pass (split_forward)
            split_bn.convert(encoder)
        self.projection = ProjectionHead(feature_dim, hidden or feature_dim, dim)
        # the key encoder starts as an exact copy and only ever moves by momentum
        self.key_backbone = copy.deepcopy(encoder).requires_grad_(False)
        self.key_projection = copy.deepcopy(self.projection).requires_grad_(False)
        self.queue = KeyQueue(queue_size, dim, seed=seed)
        self._pending_keys: Tensor | None = None
        self._pending_ids: Tensor | None = None
        self._deals: dict[tuple[int, int, str], tuple[Tensor, Tensor]] = {}

    def splits(self, batch: int) -> int:
        """BN sub-batches per process for a batch of ``batch`` (1 unless ``key_bn`` is shuffle)."""
        if self.key_bn != "shuffle":
            return 1
        if self.bn_splits:
            if batch % self.bn_splits:
                raise ValueError(f"a batch of {batch} does not split into bn_splits="
                                 f"{self.bn_splits} equal BN sub-batches")
            return self.bn_splits
        return bn_splits_for(batch, world_size())

    # ---------------------------------------------------------------- queries and keys

    def encode_queries(self, encoder: nn.Module, x: Tensor) -> Tensor:
        """The query features ``encoder(x)``; in a training forward, in BN sub-batches."""
        if self.training and torch.is_grad_enabled():
            return split_forward(encoder, x, self.splits(x.shape[0]))
        return encoder(x)

    def _deal(self, n: int, groups: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """:func:`interleave` and its inverse, made once per (batch, groups, device): the deal
        is fixed, so the training step need not rebuild and re-sort it."""
        key = (n, groups, str(device))
        if key not in self._deals:
            perm = interleave(n, groups, device)
            self._deals[key] = (perm, torch.argsort(perm))
        return self._deals[key]

    def _key_encoder(self, x: Tensor) -> Tensor:
        return self.key_projection(self.key_backbone(x))

    @torch.no_grad()
    def encode_keys(self, x: Tensor, training: bool) -> Tensor:
        """Keys of the clips ``x`` (this process's batch), in float32.

        Training with ``key_bn: shuffle``: the key clips of all processes are dealt out
        (:func:`interleave`) over every process's BN groups, each process encodes its share
        group by group, and the keys are gathered and put back in place. Evaluation reads BN
        running statistics, changes nothing, and runs on one rank alone (no collective).
        """
        if not training:
            with eval_mode(self.key_backbone), eval_mode(self.key_projection):
                return self._key_encoder(x).float()
        b, world = x.shape[0], world_size()
        splits = self.splits(b)
        if self.key_bn != "shuffle" or world * splits <= 1:
            return self._key_encoder(x).float()
        everyone = all_gather_cat(x)
        perm, inverse = self._deal(everyone.shape[0], world * splits, x.device)
        rank = dist.get_rank() if world > 1 else 0
        mine = perm[rank * b:(rank + 1) * b]
        keys = all_gather_cat(split_forward(self._key_encoder, everyone.index_select(0, mine),
                                            splits, (self.key_backbone, self.key_projection)))
        # keys[j] belongs to everyone[perm[j]]: sample i sits at j = argsort(perm)[i]
        back = inverse[rank * b:(rank + 1) * b]
        return keys.index_select(0, back).float()

    def add_term(self, feats: Tensor, key_clip: Tensor, training: bool, weight: float,
                 terms: list[Tensor], metrics: dict[str, Tensor],
                 ids: Tensor | None = None) -> None:
        """The contrastive term as every model that holds a MoCo adds it: ``weight`` times
        :meth:`loss` into ``terms``, and ``loss_contrastive`` / ``contrastive_acc`` into
        ``metrics``. ``ids``: the batch's video indices (``batch["index"]``)."""
        loss, acc = self.loss(feats, key_clip, training, ids)
        terms.append(weight * loss)
        metrics["loss_contrastive"] = loss.detach()
        metrics["contrastive_acc"] = acc

    # ---------------------------------------------------------------- the loss and the step

    def loss(self, feats: Tensor, key_clip: Tensor, training: bool,
             ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """InfoNCE of the queries ``projection(feats)`` against the keys of ``key_clip`` (the
        positives) and the queue (the negatives). Returns ``(loss, accuracy)``; a training
        forward holds its keys (and ``ids``, the batch's video indices) until
        :meth:`after_step`.

        In a training forward with ``ids`` and ``exclude_own_video``, queue entries of the
        query's own video are no negatives (logit ``-inf``). Held-out forwards never mask: their
        videos are not the training videos whose ids the queue holds.
        """
        q = self.projection(feats)
        keys = self.encode_keys(key_clip, training)
        pos = positive_logits(q, keys, tau=self.tau, **self.similarity)
        neg = similarity_logits(q, self.queue.keys, tau=self.tau, **self.similarity)
        if training and ids is not None and self.exclude_own_video:
            own = ids.to(self.queue.ids.device)[:, None] == self.queue.ids[None, :]
            neg = neg.masked_fill(own, float("-inf"))
        loss, acc = info_nce(pos, neg)
        if training:
            self._pending_keys = keys
            self._pending_ids = ids
        return loss, acc

    @torch.no_grad()
    def after_step(self, encoder: nn.Module) -> None:
        """Momentum-update the key encoder from ``encoder`` (the query encoder) and this head,
        then enqueue the keys of the last training forward, gathered from every process (so all
        queues stay identical). Call once after each ``optimizer.step()``; a no-op when the last
        forward was not a training step."""
        keys, self._pending_keys = self._pending_keys, None
        ids, self._pending_ids = self._pending_ids, None
        if keys is None:
            return
        momentum_update(
            itertools.chain(self.key_backbone.parameters(), self.key_projection.parameters()),
            itertools.chain(encoder.parameters(), self.projection.parameters()),
            self.momentum,
        )
        self.queue.enqueue(all_gather_cat(keys), None if ids is None else all_gather_cat(ids))


def check_queue(queue_size: int, batch_size: int) -> None:
    """The queue must hold whole batches: each enqueue writes one batch at the ring pointer, and
    a batch that straddled the end would need a split write every time."""
    if queue_size <= 0 or queue_size % batch_size:
        raise ConfigError(f"contrastive.queue_size={queue_size} must be a positive multiple of "
                          f"train.batch_size={batch_size}")


def query_features(moco: MoCo | None, encoder: nn.Module, x: Tensor) -> Tensor:
    """``encoder(x)``, through ``moco``'s BN sub-batches when the model has a contrastive term
    (so no query shares BatchNorm statistics with its key)."""
    return moco.encode_queries(encoder, x) if moco is not None else encoder(x)


def accept_legacy_keys(model: nn.Module) -> None:
    """Let ``model`` (which holds its MoCo as ``model.moco``) load checkpoints written before
    MoCo became a component (:func:`rename_legacy_keys`): on ``load_state_dict`` and through
    ``upgrade_state_dict``, which ``train.checkpoint.load_weights`` calls before it checks the
    keys."""
    model._register_load_state_dict_pre_hook(
        lambda state, prefix, *_: rename_legacy_keys(state, prefix))
    model.upgrade_state_dict = rename_legacy_keys  # type: ignore[assignment]


def from_config(cfg: Config, encoder: nn.Module, similarity: str | None = None) -> MoCo:
    """The MoCo of a config: ``contrastive.*``, ``model.proj_dim`` / ``proj_hidden``, the
    segment count as the shuffle-similarity chunk count, and the seed. ``similarity`` overrides
    ``contrastive.similarity`` (the Pace-style baseline always uses cosine)."""
    c = cfg.contrastive
    return MoCo(encoder, int(encoder.feature_dim), cfg.projection_dim(), c.queue_size,  # type: ignore[arg-type]
                c.momentum, c.temperature, hidden=cfg.model.proj_hidden,
                similarity=similarity or c.similarity, chunks=cfg.sampler.n_segments,
                matching=c.matching, key_bn=c.key_bn, bn_splits=c.bn_splits,
                exclude_own_video=c.exclude_own_video, seed=cfg.train.seed)


def rename_legacy_keys(state_dict: dict[str, Any], prefix: str = "") -> None:
    """Checkpoints written before MoCo became a component kept its parts at the model's top
    level (``projection.``, ``key_backbone.``, ``key_projection.``, ``queue.``); move them under
    ``moco.`` in place, so such runs still resume."""
    for old in ("projection.", "key_backbone.", "key_projection.", "queue."):
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + "moco." + key[len(prefix):]] = state_dict.pop(key)
