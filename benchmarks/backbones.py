"""Backbone sizes and CPU speed: params/MACs of every backbone, and train-step time.

Prints the paper-size figures (width 1, 16x112x112) for all registered backbones, then the
forward+backward wall time of one backbone on a small batch, the number that decides how many
steps a CPU demo gets per minute. Example:

    python benchmarks/backbones.py --backbone r3d --width 0.25 --batch 16 --size 32 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vidssl.models.backbones import build_backbone, list_backbones
from vidssl.models.flops import backbone_cost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="r3d")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = default")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print("width 1, 1x3x16x112x112:")
    for name in list_backbones():
        c = backbone_cost(name)
        print(f"  {name:9s} params {c.params / 1e6:6.2f}M  MACs {c.macs / 1e9:6.2f}G")
    c = backbone_cost(args.backbone, args.width, args.frames, args.size)
    print(
        f"{args.backbone} width {args.width:g}, 1x3x{args.frames}x{args.size}x{args.size}: "
        f"params {c.params:,}  MACs {c.macs / 1e6:.1f}M"
    )

    torch.manual_seed(0)
    net = build_backbone(args.backbone, width=args.width).train()
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    times = []
    for i in range(args.repeats + 1):
        t0 = time.perf_counter()
        net(x).square().mean().backward()
        net.zero_grad(set_to_none=True)
        if i:  # the first step warms up the allocator and kernels
            times.append(time.perf_counter() - t0)
    print(
        f"forward+backward, batch {args.batch}, {torch.get_num_threads()} threads: "
        f"median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
