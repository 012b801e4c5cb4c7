"""Does the input pipeline keep up with the model? Loader clips/s next to training clips/s.

For one config it prints, side by side:
- the training loader alone (the same ``make_loader`` the trainer uses: persistent workers,
  ``(epoch, index)`` sampler) with 0, 1 and 2 worker processes, in clips/s;
- the model alone: pretraining steps (forward, backward, optimizer step, momentum update and
  enqueue) on one batch held in memory, in clips/s;
- end to end: the two together as the trainer runs them, with the config's data.num_workers.
The loader is not the bottleneck when the end-to-end rate stays close to the model-only rate.
On a CPU-only machine workers and the model share the cores, so the loader-only rates are
upper bounds there.

    python benchmarks/loader.py                               # configs/demo.yaml if present
    python benchmarks/loader.py --config configs/pretrain/ucf101_r3d.yaml data.root=...
    python benchmarks/loader.py --batches 20 --threads 2 model.width=0.5
    python benchmarks/loader.py --compare-workers 0 1 2   # end to end with each
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# as the vidssl command line does (vidssl/cli.py): measure under the conditions it trains in
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

import torch  # noqa: E402

from vidssl.config import Config, load_config  # noqa: E402
from vidssl.devices import batch_to_device  # noqa: E402
from vidssl.method.registry import build_model, build_pretext_dataset  # noqa: E402
from vidssl.train import distributed as du  # noqa: E402
from vidssl.train.setup import build_optimizer, make_loader  # noqa: E402

# used when configs/demo.yaml does not exist: the CPU demo's scale
FALLBACK = [
    "data.dataset=synthetic",
    "data.synthetic.size=32",
    "data.input=diff",
    "data.resize=[32,32]",
    "data.crop=28",
    "model.backbone=r3d",
    "model.width=0.25",
    "contrastive.queue_size=1024",
    "train.batch_size=16",
    "train.device=cpu",
]


def load(args: argparse.Namespace) -> tuple[Config, str]:
    demo = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    if args.config:
        return load_config(args.config, args.overrides), args.config
    if demo.is_file():
        return load_config(str(demo), args.overrides), str(demo)
    return load_config(None, FALLBACK + args.overrides), "synthetic 32x32 diff, r3d width 0.25"


def loader_rate(cfg: Config, dataset, workers: int, batches: int) -> float:
    """Clips/s of the training loader alone over one whole epoch of ``batches`` batches.

    A first epoch starts the (persistent) workers; the second is timed from the moment its
    iterator exists, so batches prefetched before the clock started are not counted as free.
    """
    cfg.data.num_workers = workers
    loader = make_loader(dataset, cfg, 0, 0, batches, torch.device("cpu"))
    for _ in loader:
        pass
    loader.sampler.set_epoch(1)
    t0 = time.perf_counter()
    n = sum(int(b["index"].shape[0]) for b in loader)
    return n / (time.perf_counter() - t0)


def model_rate(cfg: Config, dataset, device: torch.device, steps: int) -> float:
    """Clips/s of pretraining steps on one in-memory batch (the loader taken out)."""
    model = du.prepare_model(build_model(cfg).to(device), du.DistContext(), cfg)
    opt = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    batch = next(iter(make_loader(dataset, cfg, 0, 0, 1, device)))
    batch = batch_to_device(batch, device, cfg.train.channels_last)
    model.train()

    def step() -> None:
        with du.autocast(device, cfg.train.precision):
            loss, _ = model(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.after_step()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * cfg.train.batch_size / (time.perf_counter() - t0)


def end_to_end_rate(cfg: Config, dataset, device: torch.device, steps: int,
                    workers: int) -> float:
    """Clips/s of the trainer's loop (loader + model) over a second epoch of ``steps`` steps
    (the first starts the workers and warms the model up)."""
    cfg.data.num_workers = workers
    model = du.prepare_model(build_model(cfg).to(device), du.DistContext(), cfg)
    opt = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    model.train()
    loader = make_loader(dataset, cfg, 0, 0, steps, device)
    for epoch in range(2):
        loader.sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        for batch in loader:
            batch = batch_to_device(batch, device, cfg.train.channels_last)
            with du.autocast(device, cfg.train.precision):
                loss, _ = model(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            model.after_step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return steps * cfg.train.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="experiment YAML (default: configs/demo.yaml or the "
                                     "built-in synthetic demo scale)")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    ap.add_argument("--batches", type=int, default=12, help="timed batches per measurement")
    ap.add_argument("--threads", type=int, default=-1,
                    help="torch CPU threads (default: as the trainer chooses from train.threads)")
    ap.add_argument("--compare-workers", type=int, nargs="*", default=[], metavar="N",
                    help="also time end to end with these numbers of loader workers")
    args = ap.parse_args()
    cfg, what = load(args)
    from vidssl.data.layouts import data_workers
    from vidssl.devices import resolve_device
    from vidssl.resources import configure_threads

    configure_threads(cfg.train.threads if args.threads < 0 else args.threads)
    cfg.data.num_workers = data_workers(cfg.data)

    device = resolve_device(cfg.train.device)
    dataset = build_pretext_dataset(cfg, "train", train=True)
    configured = cfg.data.num_workers
    b = cfg.train.batch_size
    print(f"config: {what}")
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {b}, clip "
          f"{cfg.sampler.clip_len}x{cfg.data.crop}x{cfg.data.crop}, {cfg.model.backbone} width "
          f"{cfg.model.width}, input {cfg.data.input}, precision {cfg.train.precision}, "
          f"{len(dataset)} videos")
    # the model is timed before and after the loaders (the mean), so a change in the load of
    # a shared machine during the run shows up as a spread rather than as a bias
    before = model_rate(cfg, dataset, device, args.batches)
    rows = [(f"loader, {w} worker{'s' if w != 1 else ''}", loader_rate(cfg, dataset, w,
                                                                         args.batches))
            for w in (0, 1, 2)]
    e2e = end_to_end_rate(cfg, dataset, device, args.batches, configured)
    others = [(w, end_to_end_rate(cfg, dataset, device, args.batches, w))
              for w in args.compare_workers if w != configured]
    after = model_rate(cfg, dataset, device, args.batches)
    model = (before + after) / 2
    rows.append((f"model only (before {before:.1f}, after {after:.1f})", model))
    rows.append((f"end to end, {configured} workers (as configured)", e2e))
    rows += [(f"end to end, {w} workers", rate) for w, rate in others]
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  clips/s  x model")
    for name, rate in rows:
        print(f"{name:{width}}  {rate:7.1f}  {rate / model:6.2f}")
    best = max(r for _, r in rows[:3])
    verdict = "keeps up" if best >= model else "IS THE BOTTLENECK"
    print(f"loader {verdict}: best loader {best:.1f} clips/s vs model {model:.1f} clips/s; "
          f"end to end reaches {100 * e2e / model:.0f}% of the model-only rate")


if __name__ == "__main__":
    main()
