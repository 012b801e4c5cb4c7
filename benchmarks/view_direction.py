"""Does the trained flow estimator O see which way things move? (view synthesis, DESIGN 5)

Reads a ``vidssl pretrain-view`` checkpoint, renders the test videos of the four translate
classes of the synthetic ``direction`` variant (at the checkpoint's frame size and input mode),
takes evaluation clips of ``sampler.clip_len`` consecutive frames, and compares O's mean flow
over each clip with the class's direction (right +x, left -x, down +y, up -y; each video's
true axis is within 15 degrees of it). Prints

- 4-way accuracy: the class whose direction has the largest dot product with the mean flow
  (chance 0.25);
- sign agreement: the mean flow has a positive dot product with the true direction (chance 0.5);
- the mean flow magnitude, in pixels per frame.

Usage: python benchmarks/view_direction.py runs/view/demo/checkpoint.pt [--clips 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vidssl.data.layouts import build_source
from vidssl.data.sampling import uniform_clip_indices
from vidssl.data.transforms import ClipTransform
from vidssl.train.checkpoint import load_view_module

DIRECTIONS = {
    "translate_right": (1.0, 0.0),
    "translate_left": (-1.0, 0.0),
    "translate_down": (0.0, 1.0),
    "translate_up": (0.0, -1.0),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--clips", type=int, default=4, help="clips per video (default 4)")
    ap.add_argument("--split", default="test", help="synthetic split (default test)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    module, cfg = load_view_module(args.checkpoint)
    module.eval()
    cfg.data.dataset = "synthetic"
    cfg.data.synthetic.variant = "direction"
    source = build_source(cfg.data, args.split)
    transform = ClipTransform.from_config(cfg.data, train=False)
    names = list(DIRECTIONS)
    dirs = torch.tensor([DIRECTIONS[n] for n in names])
    t = cfg.sampler.clip_len

    start = time.time()
    correct4 = agree = total = 0
    magnitude = 0.0
    for i, rec in enumerate(source.records):
        name = source.classes[rec.label]
        if name not in DIRECTIONS:
            continue
        video = source.open(i)
        idx = uniform_clip_indices(video.num_frames, t, 1, args.clips)
        rng = np.random.default_rng(0)
        x = torch.stack([transform(video.frames(list(row)), rng) for row in idx])
        with torch.no_grad():
            mean_flow = module.flow(x).mean(dim=(2, 3, 4))  # (clips, 2)
        truth = torch.tensor(DIRECTIONS[name])
        pred = (mean_flow @ dirs.T).argmax(dim=1)
        correct4 += int((pred == names.index(name)).sum())
        agree += int(((mean_flow @ truth) > 0).sum())
        magnitude += float(mean_flow.norm(dim=1).sum())
        total += len(x)
    if total == 0:
        raise SystemExit("no translate videos found")
    print(
        f"{args.checkpoint}: {total} clips of {total // args.clips} translate videos "
        f"({cfg.data.synthetic.size}px, input {cfg.data.input}, split {args.split})\n"
        f"  4-way direction accuracy {correct4 / total:.3f} (chance 0.25)\n"
        f"  sign agreement           {agree / total:.3f} (chance 0.5)\n"
        f"  mean |flow|              {magnitude / total:.3f} px/frame\n"
        f"  ({time.time() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
