"""CLI commands about data: ``vidssl sample-clip`` (one pretext clip of one video)."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    """Adds this group's commands to the vidssl parser."""
    p = sub.add_parser(
        "sample-clip",
        help="draw one pretext clip from a video and show its frame indices and labels",
        description=(
            "Draw one pretext clip (DESIGN section 1) from SOURCE and show which raw frames it "
            "took: segments in clip order with their sampling rates, the order label and the "
            "permutation. Without --json, --save-frames or --png it prints a short summary."
        ),
    )
    p.add_argument("source", metavar="SOURCE", help="a video file or a folder of frame images")
    p.add_argument("--segments", type=int, default=3,
                   help="number of segments n (2..5, as sampler.n_segments)")
    p.add_argument(
        "--rates",
        type=int,
        nargs=2,
        default=(1, 8),
        metavar=("LO", "HI"),
        help="sampling rates are drawn from LO..HI inclusive (default 1 8)",
    )
    p.add_argument("--length", type=int, default=16, help="clip length T in frames (default 16)")
    p.add_argument("--min-len", type=int, default=3, help="shortest segment (default 3)")
    p.add_argument(
        "--short-video",
        choices=("loop", "pad"),
        default="loop",
        help="what a clip does when the video is shorter than T frames (default loop)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the draw (default 0)")
    p.add_argument(
        "--frame-pattern",
        default="",
        help="file pattern of frame folders, e.g. img_{:05d}.jpg (default: detect)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the raw frame indices of each segment, rates, order label and permutation "
        "as JSON",
    )
    p.add_argument(
        "--save-frames",
        metavar="FILE.npy",
        help="save the clip as uint8 (T,H,W,3), exactly as sampled (before crop/normalise)",
    )
    p.add_argument(
        "--png",
        metavar="FILE",
        help="draw the clip as a strip of frames labelled with their raw indices (like Fig. 1)",
    )
    p.set_defaults(func=run_sample_clip)


def draw_strip(frames: np.ndarray, clip: object, path: str) -> None:
    """Save a strip of the clip's frames, each titled with its raw index, segments coloured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = len(frames)
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, T, figsize=(1.2 * T, 1.9), squeeze=False)
    j = 0
    for pos, seg in enumerate(clip.segments):  # type: ignore[attr-defined]
        for raw in seg:
            ax = axes[0, j]
            ax.imshow(frames[j])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(str(int(raw)), fontsize=8, color=colours(pos % 10))
            for side in ax.spines.values():
                side.set_color(colours(pos % 10))
                side.set_linewidth(2)
            j += 1
    rates = ", ".join(str(int(r)) for r in clip.rates)  # type: ignore[attr-defined]
    fig.suptitle(
        f"perm {list(clip.perm)}  order {clip.order}  rates [{rates}]",  # type: ignore[attr-defined]
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# Picture formats matplotlib writes: a strip saved as "x.mp4" would fail after the decoding.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def run_sample_clip(args: argparse.Namespace) -> int:
    from vidssl.data.sampling import PretextSampler
    from vidssl.data.video import ShortVideoError, VideoError, open_video

    if not 2 <= args.segments <= 5:
        # one "segment" has no order to predict: the pretext task needs 2..5 (DESIGN 1)
        print(f"vidssl sample-clip: --segments must be in 2..5; got {args.segments}",
              file=sys.stderr)
        return 2
    if args.png and not args.png.lower().endswith(PICTURE_SUFFIXES):
        print(f"vidssl sample-clip: --png {args.png}: the picture must end in "
              f"{', '.join(PICTURE_SUFFIXES)}", file=sys.stderr)
        return 2
    try:
        sampler = PretextSampler(
            clip_len=args.length,
            n_segments=args.segments,
            min_len=args.min_len,
            rate_min=args.rates[0],
            rate_max=args.rates[1],
            short_video=args.short_video,
        )
    except ValueError as exc:
        print(f"vidssl sample-clip: {exc}", file=sys.stderr)
        return 2
    try:
        video = open_video(args.source, args.frame_pattern)
        rng = np.random.default_rng(args.seed)
        for _ in range(4):
            clip = sampler.sample(video.num_frames, rng)
            try:
                frames = video.frames(clip.indices)
                break
            except ShortVideoError:
                continue  # num_frames is now the true count: draw again
        else:
            raise VideoError(args.source, "frame count kept changing while reading")
    except VideoError as exc:
        print(f"vidssl sample-clip: {exc}", file=sys.stderr)
        return 1
    info = {"source": args.source, "num_frames": video.num_frames, "fps": video.fps}
    info.update(clip.to_json())
    if args.save_frames:
        np.save(args.save_frames, frames)
    if args.png:
        draw_strip(frames, clip, args.png)
    if args.json:
        print(json.dumps(info))
    elif not (args.save_frames or args.png):
        print(f"{args.source}: {video.num_frames} frames at {video.fps:.2f} fps")
        plain = clip.to_json()  # plain ints: numpy 2 would print np.int64(0)
        for pos, (seg, rate) in enumerate(zip(plain["segments"], plain["rates"], strict=True)):
            print(f"  position {pos}: segment {plain['perm'][pos]} rate {rate}: {seg}")
        print(f"  order label {plain['order']} (perm {plain['perm']})")
        if clip.looped or clip.capped:
            print(f"  short video: {'looped/padded' if clip.looped else 'rates capped'}")
    return 0
