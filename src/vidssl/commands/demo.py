"""``vidssl demo``: pretrain on synthetic data, evaluate against random init, print the table."""

from __future__ import annotations

import argparse

from vidssl.config import load_config
from vidssl.data.variants import VARIANTS, variants_help
from vidssl.method.registry import check_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole pipeline on built-in synthetic data (about 6 minutes on 2 quiet CPU cores)",
        description=(
            "Generate the synthetic motion dataset in memory, pretrain the demo config "
            "(configs/demo.yaml: R3D width 1/4, 32x32 frame differences, order + rate + "
            "shuffle-similarity MoCo), then evaluate the pretrained backbone and the same "
            "network at random init the same way: retrieval top-1/5/10, linear probe and "
            "fine-tuning. Prints one table and writes OUT/demo.md with pictures. Rerunning "
            "reuses finished stages in OUT."
        ),
    )
    p.add_argument("--out", default="runs/demo", metavar="DIR",
                   help="output folder (default: runs/demo)")
    p.add_argument("--variant", choices=tuple(VARIANTS), default=None,
                   help="synthetic benchmark (default: the config's, motion). "
                        + variants_help()
                        + ". With direction, horizontal flips are turned off. The demo's "
                          "input stays frame differences, which keep about a third of a scene: add "
                          "data.input=rgb to train on what scene and real add.")
    p.add_argument("--config", default="configs/demo.yaml", metavar="FILE",
                   help="demo config (default: the one shipped with vidssl)")
    p.add_argument("--no-finetune", action="store_true",
                   help="skip fine-tuning (saves about a tenth of the time)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="override config keys, e.g. train.epochs=10 data.synthetic.seed=1")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidssl.demo import run_demo

    overrides = list(args.overrides)
    if args.variant:
        overrides.append(f"data.synthetic.variant={args.variant}")
        if args.variant == "direction":
            overrides.append("data.hflip=false")  # a flip turns left into right
    overrides.append(f"train.out_dir={args.out}/pretrain")
    cfg = load_config(args.config, overrides)
    check_config(cfg)  # the method's checks, before the data are generated
    run_demo(cfg, do_finetune=not args.no_finetune, progress=not args.no_progress)
    return 0
