"""The options every config-reading command shares: ``KEY=VALUE`` overrides first, then the
shortcut options given (``--device``, ``--out``, ``--workers``, ...) as the keys they stand for."""

from __future__ import annotations

import argparse

from vidssl.commands.common import add_config_args, config_from_args, shortcut_overrides


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_config_args(p)
    return p.parse_intermixed_args(argv)


def test_shortcuts_become_overrides_after_the_users_own() -> None:
    args = _parse(["--config", "configs/demo.yaml", "train.epochs=2", "--out", "o",
                   "--workers", "0"])
    assert shortcut_overrides(args, ("device", "out", "workers")) == [
        "train.epochs=2", "train.out_dir=o", "data.num_workers=0"]
    cfg = config_from_args(args)
    assert (cfg.train.epochs, cfg.train.out_dir, cfg.data.num_workers) == (2, "o", 0)
