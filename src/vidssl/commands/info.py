"""``vidssl info``: parameters and multiply-accumulates of a backbone and the paper's heads.

Why a command: the paper quotes parameters and MACs (Table VIII) for its backbones, and the
width multiplier is how a CPU user picks a network that fits their machine; this prints both
for any registered backbone, width and clip size, without allocating the network (the counts
run on PyTorch's meta device).
"""

from __future__ import annotations

import argparse
import json
import math

from vidssl.config import Config, ConfigError, validate


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def run_info(args: argparse.Namespace) -> int:
    from vidssl.method.baselines.vcop import VCOPHead
    from vidssl.models.backbones import list_backbones
    from vidssl.models.flops import backbone_cost, count_params
    from vidssl.models.heads import OrderHead, ProjectionHead, RateHead

    if args.backbone not in list_backbones():
        raise ConfigError(
            f"--backbone: unknown backbone '{args.backbone}' (known: {', '.join(list_backbones())})"
        )
    if args.frames < 1 or args.size < 1:
        raise ConfigError(f"--frames and --size must be >= 1; got {args.frames}, {args.size}")
    cfg = Config()
    cfg.model.backbone, cfg.model.width, cfg.model.proj_dim = (
        args.backbone,
        args.width,
        args.proj_dim,
    )
    cfg.sampler.n_segments = args.segments
    validate(cfg)

    cost = backbone_cost(args.backbone, width=args.width, frames=args.frames, size=args.size)
    n, feat = args.segments, cost.feature_dim
    d = cfg.projection_dim()
    hidden = cfg.model.proj_hidden or feat
    heads = {
        "order": count_params(OrderHead(feat, math.factorial(n), cfg.model.order_hidden)),
        "rate": count_params(RateHead(feat, n, cfg.model.rate_mode)),
        "projection": count_params(ProjectionHead(feat, hidden, d)),
    }
    vcop_head = count_params(VCOPHead(feat, n))
    report = {
        **cost.to_dict(),
        "segments": n,
        "proj_dim": d,
        "heads": heads,
        "params_total": cost.params + sum(heads.values()),
        "vcop": {"head_params": vcop_head, "macs_per_tuple": n * cost.macs},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    t, s = args.frames, args.size
    print(f"backbone      {args.backbone} (width {args.width:g}), input 1x3x{t}x{s}x{s}")
    print(f"  params      {cost.params:,} ({_human(cost.params)})")
    print(f"  MACs        {cost.macs:,} ({_human(cost.macs)}) per clip")
    print(f"  feature     {feat}-d pooled; conv5 map {'x'.join(map(str, cost.feature_map))}")
    print(f"heads         (n = {n} segments)")
    print(
        f"  order       {feat} -> {cfg.model.order_hidden} -> {math.factorial(n)}: "
        f"{heads['order']:,} params"
    )
    print(f"  rate        {feat} -> {n}: {heads['rate']:,} params")
    print(f"  projection  {feat} -> {hidden} -> {d}: {heads['projection']:,} params")
    print(f"total         {report['params_total']:,} params ({_human(report['params_total'])})")
    print(
        f"VCOP baseline {n} clips per tuple: {n * cost.macs:,} MACs "
        f"({_human(n * cost.macs)}), head {vcop_head:,} params"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``vidssl info`` to the vidssl parser."""
    p = sub.add_parser(
        "info",
        help="parameters and MACs of a backbone and the heads",
        description=(
            "Print the parameters and multiply-accumulates (MACs, counted with "
            "torch.utils.flop_counter on the meta device: convolutions and linear layers) of "
            "a backbone for one clip, and the parameters of the order, rate and projection "
            "heads at the default config. At width 1 and 16x112x112 these are the paper's "
            "figures (C3D 27.7M / 38.6G, R3D 14.2M / 19.9G, R(2+1)D 14.4M / 21.5G, S3D-G 9.6M)."
        ),
    )
    p.add_argument(
        "--backbone",
        default="r3d",
        help="registered backbone name: c3d, r3d, r2plus1d, s3dg (default r3d)",
    )
    p.add_argument(
        "--width",
        type=float,
        default=1.0,
        help="channel multiplier, e.g. 0.25 for the CPU demo (default 1)",
    )
    p.add_argument("--frames", type=int, default=16, help="clip length T (default 16)")
    p.add_argument("--size", type=int, default=112, help="frame side in pixels (default 112)")
    p.add_argument(
        "--segments",
        type=int,
        default=3,
        help="number of segments n: order head has n! classes (default 3)",
    )
    p.add_argument(
        "--proj-dim",
        type=int,
        default=0,
        help="contrastive projection size d; 0 = multiple of n nearest 128 (default 0)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run_info)
