"""The ``vidssl`` command line.

Each command group lives in ``vidssl.commands.<group>`` and exposes ``register(subparsers)``;
this module only assembles them, so a command's options sit next to the code that runs it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Before anything imports torch (OpenMP reads it once, when it loads): a thread that waits for
# work spins 20k times, not 300k (GNU OpenMP's default), before it sleeps. On a machine where
# other programs also run, spinning threads take the cores the working ones need: a demo
# pretraining step with 2 threads took 1.24 s instead of 0.13 s (AMD EPYC, 2 cores, another
# process busy) and 0.25 s with this setting, as with 1 thread; on the quiet machine it costs
# nothing (0.126 s). Sleeping at once (OMP_WAIT_POLICY=PASSIVE) lost the second thread's
# speed-up even there. A user's own setting wins.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from vidssl import __version__  # noqa: E402

# Order here is the order of ``vidssl --help``.
COMMAND_MODULES = (
    "vidssl.commands.demo",
    "vidssl.commands.data",
    "vidssl.commands.synth",
    "vidssl.commands.prepare",
    "vidssl.commands.info",
    "vidssl.commands.pretrain",
    "vidssl.commands.view",
    "vidssl.commands.evaluate",
    "vidssl.commands.compare",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidssl",
        description=(
            "Self-supervised video representation learning: pretrain a 3D-CNN by predicting the "
            "order and sampling rate of shuffled clip segments plus MoCo with shuffle "
            "similarity; evaluate by fine-tuning, retrieval and linear probe. Run "
            "'vidssl demo' for the whole pipeline on built-in synthetic data."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vidssl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from vidssl.config import ConfigError

    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"vidssl: config error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"vidssl: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidssl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
