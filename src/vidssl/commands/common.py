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


# option name -> the config key it is a shortcut for
SHORTCUTS = {
    "dataset": "data.dataset",
    "root": "data.root",
    "split": "data.split",
    "device": "train.device",
    "out": "train.out_dir",
    "workers": "data.num_workers",
}


def shortcut_overrides(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """``KEY=VALUE`` overrides from the command line, then those of the shortcut options given."""
    overrides = list(getattr(args, "overrides", None) or [])
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value != "":
            overrides.append(f"{SHORTCUTS[name]}={value}")
    return overrides


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, shortcut_overrides(args, ("device", "out", "workers")))
