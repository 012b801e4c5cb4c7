"""Options shared by the commands that read an experiment config."""

from __future__ import annotations

import argparse

from vidssl.config import Config, load_config


def add_config_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--config", required=required, metavar="FILE",
                   help="experiment YAML (see configs/); may 'include:' another file")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="override config keys, e.g. train.epochs=5 model.width=0.25 "
                        "data.root=/data/UCF101 (values are parsed as YAML)")
    p.add_argument("--device", metavar="DEV",
                   help="cpu, cuda or cuda:N (shortcut for train.device=...)")
    p.add_argument("--out", metavar="DIR", help="output directory (shortcut for train.out_dir=...)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="DataLoader worker processes (shortcut for data.num_workers=N)")


def config_from_args(args: argparse.Namespace) -> Config:
    overrides = list(args.overrides or [])
    if getattr(args, "device", None):
        overrides.append(f"train.device={args.device}")
    if getattr(args, "out", None):
        overrides.append(f"train.out_dir={args.out}")
    if getattr(args, "workers", None) is not None:
        overrides.append(f"data.num_workers={args.workers}")
    return load_config(args.config, overrides)
