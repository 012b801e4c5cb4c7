"""``vidssl compare``: pretrain + evaluate a list of methods and write one table and chart."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``vidssl compare`` to the vidssl parser."""
    p = sub.add_parser(
        "compare",
        help="run a list of methods (pretrain + evaluations) and tabulate them",
        description=(
            "Run every method of a compare file: pretrain it (or resume its checkpoint), "
            "evaluate it (held-out pretext metrics, retrieval, linear probe, fine-tuning, as "
            "the file's 'evaluations' list says), then write <out_dir>/compare.md (rows = "
            "methods, columns = metrics, GMACs per training sample), compare.json and a bar "
            "chart compare.png; with 'seeds: [0, 1, 2]' (or --seeds) every method runs once "
            "per seed and the table gives 95% intervals. Where the data have a val split, "
            "val and test are both scored: choose on val, report test. Finished work is "
            "reused: run it again after a crash or with more methods (or seeds) and only what "
            "is missing runs. Ready-made files: "
            "configs/compare/{ablation,baselines,segments,rates}.yaml (paper scale, UCF101, "
            "R(2+1)D) and their *-demo.yaml variants (synthetic data, CPU). The file format "
            "is documented in vidssl/compare/__init__.py. Example: vidssl compare --config "
            "configs/compare/ablation-demo.yaml"
        ),
    )
    p.add_argument("--config", required=True, metavar="FILE",
                   help="compare YAML: base, overrides, evaluations, out_dir, methods")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides for every method, applied after the file's own "
                        "(e.g. train.epochs=1 to smoke-test a comparison)")
    p.add_argument("--only", nargs="+", metavar="NAME", default=[],
                   help="run only these methods; the table still lists every method already "
                        "finished")
    p.add_argument("--redo", nargs="+", metavar="NAME", default=[],
                   help="delete these methods' folders and run them from scratch (needed when "
                        "a method's pretraining config changed since it ran)")
    p.add_argument("--seeds", metavar="K,K,...",
                   help="run every method once per training seed, e.g. 0,1,2 (replaces the "
                        "file's 'seeds'); the table gives mean ± 95%% interval over seeds and "
                        "paired differences against the file's 'reference' row")
    p.add_argument("--out", metavar="DIR", help="output folder (instead of the file's out_dir)")
    p.add_argument("--device", metavar="DEV",
                   help="cpu, cuda or cuda:N (shortcut for train.device=...)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="DataLoader worker processes (shortcut for data.num_workers=N)")
    p.add_argument("--results", metavar="FILE",
                   help="also write this comparison's tables and chart as its own section of a "
                        "results document (e.g. docs/RESULTS.md), replacing the section it wrote "
                        "before and keeping everything else (vidssl/compare/results.py)")
    p.add_argument("--table-only", action="store_true",
                   help="run nothing: rebuild the table and chart from the finished methods")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vidssl.compare.run import run_compare
    from vidssl.compare.spec import CompareError, load_compare, parse_seeds
    from vidssl.config import ConfigError
    from vidssl.errors import RunDirError

    extra = list(args.overrides or [])
    if args.device:
        extra.append(f"train.device={args.device}")
    if args.workers is not None:
        extra.append(f"data.num_workers={args.workers}")
    t0 = time.perf_counter()
    try:
        spec = load_compare(args.config)
        if args.out:
            spec.out_dir = Path(args.out)
        if args.seeds is not None:
            spec.seeds = parse_seeds(args.seeds)
        rows, paths = run_compare(spec, extra, only=args.only, redo=args.redo,
                                  progress=not args.no_progress, table_only=args.table_only,
                                  log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except (CompareError, ConfigError, RunDirError) as exc:
        print(f"vidssl compare: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print("vidssl compare: no finished methods to tabulate", file=sys.stderr)
        return 1
    table = paths["md"].read_text()
    if args.results:
        from vidssl.compare.results import update_results

        command = " ".join(["vidssl compare --config", args.config,
                            *([f"--seeds {args.seeds}"] if args.seeds is not None else []),
                            *extra])
        paths["results"] = update_results(Path(args.results), spec.out_dir.name, command,
                                          table, paths.get("png"))
    print(table)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    print(f"wall time: {time.perf_counter() - t0:.0f} s")
    return 0
