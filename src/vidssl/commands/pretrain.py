"""``vidssl pretrain``: self-supervised pretraining from a YAML config."""

from __future__ import annotations

import argparse
import os
import sys

from vidssl.commands.common import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="self-supervised pretraining (order + rate + shuffle-similarity MoCo)",
        description=(
            "Pretrain a backbone on unlabeled video with the pretext of the paper: predict the "
            "order of shuffled clip segments and each segment's sampling rate, plus MoCo with "
            "shuffle similarity. Writes config.yaml, metrics.csv, tensorboard/ and "
            "checkpoint.pt (atomically, every train.checkpoint_every epochs and on Ctrl-C) "
            "into train.out_dir, which is locked while the run lasts; a folder that holds a "
            "run is refused unless --resume or --overwrite. Example: vidssl pretrain "
            "--config configs/demo.yaml train.epochs=5 data.num_workers=0"
        ),
    )
    add_config_args(p)
    p.add_argument("--resume", metavar="PATH",
                   help="continue exactly where this checkpoint stopped (model, key encoder, "
                        "queue, optimizer, scheduler, RNG, epoch and step); the config must be "
                        "the run's own, except where and how long it runs (e.g. train.epochs, "
                        "train.device, data.num_workers)")
    p.add_argument("--overwrite", action="store_true",
                   help="start again in an output folder that holds a run, deleting that "
                        "run's checkpoint, logs and config (without it such a folder is "
                        "refused)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="start N processes with torchrun (DistributedDataParallel); "
                        "same as 'torchrun --nproc_per_node N -m vidssl pretrain ...'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.nproc > 1:
        from vidssl.train.launch import relaunch_with_torchrun

        return relaunch_with_torchrun(args.nproc, sys.argv[1:])
    from vidssl.train.pretrain import Interrupted, pretrain

    cfg = config_from_args(args)
    try:
        path = pretrain(cfg, resume=args.resume, progress=not args.no_progress,
                        overwrite=args.overwrite)
    except Interrupted:
        print(f"vidssl: stopped; resume with --resume {cfg.train.out_dir}/checkpoint.pt",
              file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print(f"checkpoint: {path}")
    return 0
