"""Generation speed of the synthetic motion data set (single thread, in memory).

Prints seconds per data set and milliseconds per video for the demo-sized splits, e.g.::

    python benchmarks/synthetic.py --size 64 --videos 600 --frames 96
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from vidssl.data.synthetic import VARIANTS, class_names, render_video


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="motion", choices=tuple(VARIANTS))
    p.add_argument("--size", type=int, default=64, help="frame side (default 64)")
    p.add_argument("--videos", type=int, default=600, help="videos to render (default 600)")
    p.add_argument("--frames", type=int, default=96, help="frames per video (default 96)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    n_classes = len(class_names(args.variant))
    render_video(args.variant, 0, np.random.default_rng(0), args.size, args.frames)  # warm-up
    start_cpu, start = time.process_time(), time.perf_counter()
    for i in range(args.videos):
        rng = np.random.default_rng([0, i])
        render_video(args.variant, i % n_classes, rng, args.size, args.frames)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(
        f"{args.videos} videos x {args.frames} frames at {args.size}x{args.size} "
        f"({args.variant}, {args.threads} thread): {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"{1000 * wall / args.videos:.1f} ms/video (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
