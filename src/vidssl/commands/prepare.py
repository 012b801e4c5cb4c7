"""``vidssl prepare``: a pre-resized copy of a data set, so the loader decodes small frames."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Adds this group's commands to the vidssl parser."""
    p = sub.add_parser(
        "prepare",
        help="re-encode a video data set once at the training size (e.g. 128x171)",
        description=(
            "Write a copy of a data set with every video resized to the size the model's "
            "transform resizes to anyway (data.resize, 128x171 by default), so decoding during "
            "training costs a fraction of the full-size decode. The folder structure, split "
            "lists and CSVs are kept: train with data.root=DST and the same config. Two forms: "
            "'vidssl prepare SRC DST --size 128x171' and 'vidssl prepare --config FILE "
            "[KEY=VALUE ...] [--dest DST]' (SRC = data.root, size = data.resize, DST defaults to "
            "<data.root>_<H>x<W>). Interrupted runs resume: finished videos are skipped."
        ),
    )
    p.add_argument("paths", nargs="*", metavar="SRC DST | KEY=VALUE",
                   help="without --config: the source and destination folders; with --config: "
                        "config overrides such as data.root=/data/UCF101")
    p.add_argument("--config", metavar="FILE",
                   help="experiment YAML: prepare its data.root at its data.resize")
    p.add_argument("--dest", metavar="DIR",
                   help="with --config: destination folder (default <data.root>_<H>x<W>)")
    p.add_argument("--size", metavar="HxW",
                   help="frame size height x width, e.g. 128x171 (default: data.resize with "
                        "--config, else 128x171)")
    p.add_argument("--format", choices=("video", "frames"), default="video",
                   help="video: re-encode as H.264 with a keyframe every 16 frames (compact; "
                        "default); frames: JPEG frame folders img_00001.jpg (more disk, no "
                        "video decoding at all)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="videos encoded in parallel by N processes (default 1)")
    p.add_argument("--overwrite", action="store_true",
                   help="redo videos that already exist in the destination")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidssl.data.prepare import parse_size, prepare_tree

    if args.config:
        from vidssl.config import load_config
        from vidssl.data.layouts import LAYOUTS

        cfg = load_config(args.config, list(args.paths))
        if LAYOUTS[cfg.data.dataset].in_memory:
            print(f"vidssl prepare: the {cfg.data.dataset} data set lives in memory and needs no "
                  "preparing ('vidssl synth' writes it to disk)", file=sys.stderr)
            return 2
        if not cfg.data.root:
            print("vidssl prepare: data.root is not set in the config", file=sys.stderr)
            return 2
        size = parse_size(args.size) if args.size else tuple(cfg.data.resize)
        src = Path(cfg.data.root).expanduser()
        dst = Path(args.dest) if args.dest else src.with_name(f"{src.name}_{size[0]}x{size[1]}")
    else:
        if len(args.paths) != 2 or args.dest:
            print("vidssl prepare: give SRC and DST (or --config FILE); see --help",
                  file=sys.stderr)
            return 2
        src, dst = (Path(p) for p in args.paths)
        size = parse_size(args.size or "128x171")
    try:
        summary = prepare_tree(src, dst, (int(size[0]), int(size[1])), fmt=args.format,
                               workers=args.jobs, overwrite=args.overwrite,
                               progress=not args.no_progress)
    except ValueError as exc:
        print(f"vidssl prepare: {exc}", file=sys.stderr)
        return 2
    print(summary)
    print(f"train on it with: data.root={dst}")
    if cfg_resize_differs(args, size):
        print(f"and data.resize=[{size[0]},{size[1]}]")
    return 1 if summary.failed else 0


def cfg_resize_differs(args: argparse.Namespace, size: tuple[int, int]) -> bool:
    """Whether to remind the user that data.resize must match a non-default size."""
    return not args.config and tuple(size) != (128, 171)
