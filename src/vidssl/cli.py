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

from vidssl.version import __version__  # noqa: E402

# Order here is the order of ``vidssl --help``.
COMMAND_MODULES = (
    "vidssl.commands.demo",
    "vidssl.commands.sample_clip",
    "vidssl.commands.synth",
    "vidssl.commands.prepare",
    "vidssl.commands.info",
    "vidssl.commands.pretrain",
    "vidssl.commands.view",
    "vidssl.commands.evaluate",
    "vidssl.commands.export",
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


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` letting ``KEY=VALUE`` overrides (positionals) sit anywhere among the
    options: ``vidssl pretrain train.epochs=5 --config c.yaml data.root=x --out y``.

    argparse's intermixed parsing refuses a parser with subcommands, so the command word is
    looked up first and its own parser reads the rest intermixed.
    """
    commands = next((a.choices for a in parser._actions
                     if isinstance(a, argparse._SubParsersAction)), {})
    if argv and argv[0] in commands:
        args = commands[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)


# OSErrors that describe the user's machine, not our code: shown as one line. A bare OSError
# of another kind is left alone: it may be a bug of ours and deserves its traceback.
_ENVIRONMENT_ERRORS = (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


def _oserror_line(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, list(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from vidssl.errors import NonFiniteLossError, UserError, is_disk_full

    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError) as exc:
        print(f"vidssl: {exc}", file=sys.stderr)
        return 2
    except NonFiniteLossError as exc:  # training diverged (pretrain, finetune, compare, demo)
        print(f"vidssl: {exc}", file=sys.stderr)
        return 3
    except _ENVIRONMENT_ERRORS as exc:
        print(f"vidssl: {_oserror_line(exc)}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        where = f" writing {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"vidssl: no space left on the device{where}; free some space and run again "
              "(a training run resumes from its last checkpoint, which is intact)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidssl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
