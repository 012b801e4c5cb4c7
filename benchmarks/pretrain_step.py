"""Overhead of one full pretraining step over the compute no implementation can avoid.

Full step (what ``vidssl pretrain`` does per batch, inputs pre-made): query backbone + order,
rate and projection heads, key encoder forward (no grad, train-mode BN), shuffle similarity
against the queue, InfoNCE, backward, SGD step, momentum update, enqueue.

Floor: the same backbone's forward + backward on the query batch plus its forward without
gradient on the key batch, the part every implementation of the method must compute.

The two are timed in alternation (floor, step, floor, step, ...) after a warm-up, so drifts in a
shared machine's load hit both alike; the medians' ratio is printed. Goal: <= 1.15.

``--key-bn both`` times the full step with shuffle-BN (BN sub-batches, leak-free) and with one BN
batch (``none``) in the same alternation, and prints shuffle's step over none's: what leak-free
BatchNorm costs (goal <= 1.05 on CPU, issue 18). ``--key-bn all`` adds ``passes``: shuffle-BN
the way it ran before issue 18, one backbone pass per BN sub-batch (the BN layers left plain).

    python benchmarks/pretrain_step.py                # R3D x1/4, 16x64x64, batch 8, queue 4096
    python benchmarks/pretrain_step.py --threads 1 --reps 30
    python benchmarks/pretrain_step.py --key-bn both --batch 16
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch

from vidssl.config import load_config
from vidssl.method.registry import build_model, example_batch
from vidssl.models import split_bn
from vidssl.train.setup import build_optimizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(model: torch.nn.Module, optim: torch.optim.Optimizer,
          batch: dict[str, torch.Tensor]) -> Callable[[], None]:
    """One training step of ``model`` on ``batch``, as the trainer takes it."""
    def step() -> None:
        loss, _ = model(batch)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        model.after_step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backbone", default="r3d", help="registered backbone name (default r3d)")
    ap.add_argument("--width", type=float, default=0.25, help="channel multiplier (default 0.25)")
    ap.add_argument("--batch", type=int, default=8, help="clips per batch (default 8)")
    ap.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    ap.add_argument("--size", type=int, default=64, help="frame side in pixels (default 64)")
    ap.add_argument("--queue", type=int, default=4096, help="queue length (default 4096)")
    ap.add_argument("--similarity", default="shuffle", choices=("shuffle", "cosine"),
                    help="contrastive similarity (default shuffle)")
    ap.add_argument("--matching", default="greedy", choices=("greedy", "optimal"),
                    help="shuffle-similarity matching (default greedy)")
    ap.add_argument("--key-bn", default="shuffle", choices=("shuffle", "none", "both", "all"),
                    help="contrastive.key_bn: shuffle = BN sub-batches (default), none = one "
                         "batch, both = time the two steps in one run, all = both + one "
                         "backbone pass per BN sub-batch")
    ap.add_argument("--reps", type=int, default=15, help="timed repetitions of each (default 15)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed repetitions first (default 3)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = default")
    ap.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    modes = {"both": ("none", "shuffle"), "all": ("none", "shuffle", "passes")}.get(
        args.key_bn, (args.key_bn,))
    overrides = [
        f"model.backbone={args.backbone}", f"model.width={args.width}",
        f"train.batch_size={args.batch}", f"contrastive.queue_size={args.queue}",
        f"contrastive.similarity={args.similarity}", f"contrastive.matching={args.matching}",
        f"sampler.clip_len={args.frames}",
        f"data.resize=[{args.size},{args.size}]", f"data.crop={args.size}",
    ]
    steps = {}
    for mode in modes:
        torch.manual_seed(0)  # the same weights and batch for every mode
        key_bn = "shuffle" if mode == "passes" else mode
        cfg = load_config(None, [*overrides, f"contrastive.key_bn={key_bn}"])
        model = build_model(cfg).to(device).train()
        if mode == "passes":  # plain BN layers: moco.split_forward falls back to one pass each
            split_bn.revert(model)
        # the trainer's own optimizer (SGD, momentum 0.9, weight decay 5e-4 by default)
        optim = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
        # the flagship's batch: clips, keys, order and rate labels in range
        batch = {k: v.to(device) for k, v in example_batch(cfg, args.batch).items()}
        steps[mode] = _step(model, optim, batch)
    # The floor's networks: separate copies so the measurements share no state.
    floor_q = copy.deepcopy(model.backbone).train()
    floor_k = copy.deepcopy(model.backbone).train().requires_grad_(False)

    def floor() -> None:
        floor_q.zero_grad(set_to_none=True)
        floor_q(batch["clip"]).sum().backward()
        with torch.no_grad():
            floor_k(batch["key"])

    def timed(fn) -> tuple[float, float]:
        _sync(device)
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        return time.perf_counter() - w0, time.process_time() - c0

    for _ in range(args.warmup):
        floor()
        for step in steps.values():
            step()
    t_floor: list[tuple[float, float]] = []
    t_step: dict[str, list[tuple[float, float]]] = {mode: [] for mode in steps}
    for _ in range(args.reps):
        t_floor.append(timed(floor))
        for mode, step in steps.items():
            t_step[mode].append(timed(step))
    print(f"{args.backbone} x{args.width} {args.frames}x{args.size}x{args.size} batch {args.batch} "
          f"queue {args.queue} {args.similarity}/{args.matching} key_bn {args.key_bn} on {device} "
          f"({torch.get_num_threads()} threads, {args.reps} reps)")
    # Wall time is what a user waits for; on a shared CPU it also counts time spent waiting
    # for a core, so the process CPU time is printed too (the steadier of the two there).
    for i, clock in enumerate(("wall", "cpu")):
        mf = statistics.median(t[i] for t in t_floor)
        ms = {mode: statistics.median(t[i] for t in times) for mode, times in t_step.items()}
        for mode, m in ms.items():
            print(f"[{clock:4s}] floor (query fwd+bwd + key fwd) {mf * 1e3:8.1f} ms   "
                  f"full step ({mode:7s}) {m * 1e3:8.1f} ms   ratio {m / mf:.3f}  (goal <= 1.15)")
        if len(ms) >= 2:
            print(f"[{clock:4s}] shuffle-BN step / one-BN-batch step: "
                  f"{ms['shuffle'] / ms['none']:.3f}  (goal <= 1.05)")
        if len(ms) == 3:
            print(f"[{clock:4s}] per-sub-batch passes step / one-BN-batch step: "
                  f"{ms['passes'] / ms['none']:.3f}  (before issue 18)")


if __name__ == "__main__":
    main()
