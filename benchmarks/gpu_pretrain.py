"""Pretraining throughput on one GPU at the paper's scale: R(2+1)D, 16x112x112 clips, batch 16.

Prints, for fp32 / bf16 / fp16 (GradScaler) / bf16 + channels_last_3d (and bf16 + torch.compile
with ``--compile``): steps/s, clips/s and peak GPU memory of full pretraining steps (order + rate
+ shuffle-similarity MoCo: forward, backward, optimizer step, momentum update, enqueue) on an
in-memory batch; then whether the input pipeline keeps up: the training loader's clips/s
(synthetic videos resized to 128x171 and cropped to 112, RGB, the real transform) with
``--workers`` processes, against the fastest model rate.

    python benchmarks/gpu_pretrain.py                    # about 2-3 minutes on an H100
    python benchmarks/gpu_pretrain.py --steps 30 --workers 12 --compile
    python benchmarks/gpu_pretrain.py model.backbone=r3d  # any config override
    python benchmarks/gpu_pretrain.py --key-bn-compare --compile   # issue 18: BN in one pass

``--key-bn-compare`` times, for bf16 (and bf16 + torch.compile with ``--compile``), the step with
one BN batch (``contrastive.key_bn: none``, the leak), with leak-free shuffle-BN in one backbone
pass (split BN layers, the default since issue 18) and with shuffle-BN as one backbone pass per
BN sub-batch (before issue 18), and prints shuffle over none (goal <= 1.10 with compile).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from vidssl.config import Config, load_config
from vidssl.devices import batch_to_device
from vidssl.method.registry import build_model, build_pretext_dataset, example_batch
from vidssl.models import split_bn
from vidssl.train import distributed as du
from vidssl.train.setup import build_optimizer, grad_scaler, make_loader

PAPER_SCALE = [
    "data.dataset=synthetic",
    "data.synthetic.size=112",
    "data.synthetic.min_frames=64",
    "data.synthetic.max_frames=96",
    "data.synthetic.train_per_class=8",
    "data.synthetic.test_per_class=1",
    "data.input=rgb",
    "data.resize=[128,171]",
    "data.crop=112",
    "sampler.clip_len=16",
    "model.backbone=r2plus1d",
    "model.width=1.0",
    "contrastive.queue_size=4096",
    "train.batch_size=16",
    "train.device=cuda",
]


def measure(cfg: Config, device: torch.device, steps: int, warmup: int,
            passes: bool = False) -> dict[str, float]:
    """Steps/s and peak memory of full pretraining steps under ``cfg.train`` settings;
    ``passes``: shuffle-BN as one backbone pass per BN sub-batch (plain BN layers)."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    model = build_model(cfg).to(device)
    if passes:
        split_bn.revert(model)
    model = du.prepare_model(model, du.DistContext(), cfg)
    opt = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    scaler = grad_scaler(device, cfg.train.precision)
    raw = example_batch(cfg, cfg.train.batch_size)  # the method's shapes and label ranges
    batch = batch_to_device(raw, device, cfg.train.channels_last)
    model.train()

    def step() -> None:
        with du.autocast(device, cfg.train.precision):
            loss, _ = model(batch)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        model.after_step()

    t_warm = time.perf_counter()
    for _ in range(warmup):
        step()
    torch.cuda.synchronize(device)
    warm_s = time.perf_counter() - t_warm
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize(device)
    dt = time.perf_counter() - t0
    out = {"steps_per_s": steps / dt, "clips_per_s": steps * cfg.train.batch_size / dt,
           "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30,
           "warmup_s": warm_s}
    return out


def loader_rate(cfg: Config, workers: int, batches: int) -> float:
    """Clips/s of the training loader on a second (timed) epoch, workers already running."""
    cfg.data.num_workers = workers
    dataset = build_pretext_dataset(cfg, "train", train=True)
    loader = make_loader(dataset, cfg, 0, 0, batches, torch.device("cuda"))
    for _ in loader:
        pass
    loader.sampler.set_epoch(1)
    t0 = time.perf_counter()
    n = 0
    for b in loader:
        b["clip"].to("cuda", non_blocking=True)
        n += int(b["clip"].shape[0])
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def key_bn_compare(base: list[str], settings: list[tuple[str, list[str]]],
                   device: torch.device, args: argparse.Namespace) -> None:
    """Per setting: steps/s with one BN batch, shuffle-BN in one pass, and a pass per
    sub-batch; the ratios of the step times."""
    modes = {"none": (["contrastive.key_bn=none"], False),
             "shuffle, one pass": (["contrastive.key_bn=shuffle"], False),
             "shuffle, pass per sub-batch": (["contrastive.key_bn=shuffle"], True)}
    results: dict[str, dict[str, float]] = {}
    print(f"{'setting':22} {'key_bn':28} steps/s  clips/s  peak GiB  warm-up s")
    for name, extra in settings:
        for mode, (bn, passes) in modes.items():
            r = measure(load_config(None, base + extra + bn), device, args.steps, args.warmup,
                        passes=passes)
            results[f"{name} | {mode}"] = r
            print(f"{name:22} {mode:28} {r['steps_per_s']:7.2f}  {r['clips_per_s']:7.1f}  "
                  f"{r['peak_mem_gib']:8.2f}  {r['warmup_s']:9.1f}", flush=True)
        none = results[f"{name} | none"]["steps_per_s"]
        for mode in list(modes)[1:]:
            print(f"{name}: step time {mode} / none = "
                  f"{none / results[f'{name} | {mode}']['steps_per_s']:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"key_bn_compare": results}, fh, indent=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--workers", type=int, default=8, help="loader worker processes")
    ap.add_argument("--loader-batches", type=int, default=24)
    ap.add_argument("--compile", action="store_true", help="also time bf16 + torch.compile")
    ap.add_argument("--key-bn-compare", action="store_true",
                    help="only time key_bn none / shuffle (one pass) / shuffle (a pass per "
                         "sub-batch) in bf16 (and bf16 + compile with --compile); no loader")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_pretrain.py needs a CUDA GPU")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    device = torch.device("cuda")
    base = PAPER_SCALE + args.overrides
    settings = [("fp32 (tf32 matmul/conv)", ["train.precision=fp32"]),
                ("bf16 autocast", ["train.precision=bf16"]),
                ("fp16 autocast + GradScaler", ["train.precision=fp16"]),
                ("bf16 + channels_last_3d", ["train.precision=bf16", "train.channels_last=true"])]
    if args.compile:
        settings.append(("bf16 + torch.compile", ["train.precision=bf16", "train.compile=true"]))
    if args.key_bn_compare:
        key_bn_compare(base, [s for s in settings if s[0].startswith("bf16 ") and
                              "channels" not in s[0]], device, args)
        return
    cfg0 = load_config(None, base)
    print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}: "
          f"{cfg0.model.backbone} width {cfg0.model.width}, {cfg0.sampler.clip_len}x"
          f"{cfg0.data.crop}x{cfg0.data.crop}, batch {cfg0.train.batch_size}, "
          f"queue {cfg0.contrastive.queue_size}")
    results: dict[str, dict[str, float]] = {}
    print(f"{'setting':30} steps/s  clips/s  peak GiB  warm-up s")
    for name, extra in settings:
        r = measure(load_config(None, base + extra), device, args.steps, args.warmup)
        results[name] = r
        print(f"{name:30} {r['steps_per_s']:7.2f}  {r['clips_per_s']:7.1f}  "
              f"{r['peak_mem_gib']:8.2f}  {r['warmup_s']:9.1f}", flush=True)
    fastest = max(r["clips_per_s"] for r in results.values())
    loader = loader_rate(load_config(None, base), args.workers, args.loader_batches)
    keeps_up = loader >= fastest
    print(f"loader, {args.workers} workers: {loader:.1f} clips/s vs fastest model "
          f"{fastest:.1f} clips/s -> loader {'keeps up' if keeps_up else 'IS THE BOTTLENECK'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"settings": results, "loader_clips_per_s": loader,
                       "loader_workers": args.workers, "loader_keeps_up": keeps_up}, fh,
                      indent=2)


if __name__ == "__main__":
    main()
