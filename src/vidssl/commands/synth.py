"""``vidssl synth``: write the built-in synthetic motion data set as mp4 files."""

from __future__ import annotations

import argparse

from vidssl.config import SyntheticConfig
from vidssl.data.variants import VARIANTS, variants_help


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``vidssl synth`` to the vidssl parser."""
    d = SyntheticConfig()
    p = sub.add_parser(
        "synth",
        help="write the built-in synthetic motion data set as mp4 files (folder layout)",
        description=(
            "Render the synthetic motion data set (the one 'vidssl demo' and data.dataset="
            "synthetic generate in memory) and save it as real mp4 files, so you can look at "
            "it and use it as a file data set. Layout: DIR/<class>/<class>_<split>_<i>.mp4, "
            "DIR/train.txt, DIR/test.txt and DIR/val.txt with lines '<relative path> <label>', "
            "and DIR/classes.txt with the class names in label order. Use it with: "
            "data.dataset=folder data.root=DIR data.train_list=DIR/train.txt "
            "data.test_list=DIR/test.txt data.val_list=DIR/val.txt (val: for choosing "
            "hyperparameters, so test stays untouched). The same options give the same "
            "videos as the in-memory data set (up to video compression)."
        ),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--variant", default=d.variant, choices=tuple(VARIANTS),
                   help=f"which classes and how realistic (default {d.variant}). "
                        + variants_help())
    p.add_argument("--scene-bias", type=float, default=d.scene_bias, metavar="P",
                   help="probability that a video's scene (background and sprite) is drawn from "
                        "its class's own distribution (default: the variant's value)")
    p.add_argument("--camera", type=float, default=d.camera, metavar="Q",
                   help="probability of a class-independent camera pan or shake (default: the "
                        "variant's value)")
    p.add_argument("--size", type=int, default=d.size, metavar="S",
                   help=f"frame side in pixels (default {d.size}; 32 for the CPU demo)")
    p.add_argument("--seed", type=int, default=d.seed, metavar="N",
                   help=f"data seed; train, test and val use disjoint streams (default {d.seed})")
    p.add_argument("--train-per-class", type=int, default=d.train_per_class, metavar="K",
                   help=f"training videos per class (default {d.train_per_class})")
    p.add_argument("--test-per-class", type=int, default=d.test_per_class, metavar="K",
                   help=f"test videos per class (default {d.test_per_class})")
    p.add_argument("--val-per-class", type=int, default=d.val_per_class, metavar="K",
                   help="validation videos per class, for model selection (default: as many "
                        "as --test-per-class; 0: no val split)")
    p.add_argument("--min-frames", type=int, default=d.min_frames, metavar="T",
                   help=f"fewest frames per video (default {d.min_frames})")
    p.add_argument("--max-frames", type=int, default=d.max_frames, metavar="T",
                   help=f"most frames per video (default {d.max_frames})")
    p.add_argument("--codec", default="", metavar="NAME",
                   help="PyAV encoder (libx264, h264 or mpeg4); default: h264 when this PyAV "
                        "build can encode it, else mpeg4")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the data set and print where it went and how to use it."""
    from vidssl.data.synthetic import write_synthetic
    from vidssl.progress import progress as progress_bar
    from vidssl.train.run_dir import prepare_out_dir

    prepare_out_dir(args.out, "--out")  # a file there is refused before any rendering
    cfg = SyntheticConfig(
        variant=args.variant,
        size=args.size,
        min_frames=args.min_frames,
        max_frames=args.max_frames,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
        val_per_class=args.val_per_class,
        seed=args.seed,
        scene_bias=args.scene_bias,
        camera=args.camera,
    )
    with progress_bar(desc="synth", unit="video", disable=args.no_progress) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        summary = write_synthetic(args.out, cfg, codec=args.codec, progress=progress)
    n = summary["videos"]
    out = summary["out_dir"]
    counts = " + ".join(f"{k} {sp}" for sp, k in n.items())
    print(
        f"wrote {counts} videos ({summary['frames']} frames, "
        f"{summary['classes']} classes, {summary['codec']}) to {out} "
        f"in {summary['seconds']:.1f} s"
    )
    val = f" data.val_list={out}/val.txt" if "val" in n else ""
    print(
        f"use: data.dataset=folder data.root={out} data.train_list={out}/train.txt "
        f"data.test_list={out}/test.txt{val}"
    )
    return 0
