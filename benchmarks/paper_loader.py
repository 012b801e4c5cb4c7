"""The paper-scale loader per worker: pretext samples/s of one process, and where the time goes.

The recipe of ``configs/pretrain/ucf101_r2plus1d.yaml`` (resize 128x171, random crop 112, 16
frames, 3 segments at rates 1-8, RGB, colour jitter and flip; each sample a query clip and a key
clip of the same video), read in the main process (``num_workers=0``), so the rate is what one
DataLoader worker, i.e. one core, delivers. Formats, made with PyAV in a temporary folder:

- ``raw``: UCF101-like files: 320x240 MPEG-4 Part 2 (xvid-like, 2 B-frames) ``.avi`` at 25 fps,
  ``--videos`` of them lasting 4-10 s (what UCF101 ships; AVI with B-frames has no timestamps
  to seek by, so the reader decodes from the start: ``data/video.py``);
- ``frames``: the same after ``vidssl prepare --format frames`` at 128x171 (JPEG folders);
- ``video``: the same after ``vidssl prepare`` (H.264 at 128x171, a keyframe every 16 frames).

Per format it prints samples/s per worker, per second of wall time and of CPU time (one sample
= the query and key clips of one video, what a batch of 16 holds 16 of), the workers needed to
feed ``--target`` samples/s (535: R(2+1)D with bf16 and ``torch.compile`` on an H200,
docs/GPU.md), and the mean CPU ms per sample of each part: open (open the file or list the
folder, probe timestamps), draw (segments and rates), seek, decode, convert (YUV to RGB with the
resize to 128x171 in the same swscale pass), read (frame folders: file read, JPEG decode,
stacking), to-float, resize (only when frames do not arrive at 128x171), crop, jitter,
flip+normalise (with the clamp) and collate (16 samples into a batch, per sample). The parts
are timed in a separate pass that mirrors the dataset step by step (its output is checked equal
to the dataset's), the rates by the dataset itself.

``--workers N`` adds the training loader itself (``make_loader``, N worker processes, as
``benchmarks/loader.py`` times it) per format, in samples/s: on a GPU host, whether N workers
feed ``--target``. ``--dir DIR`` writes (or reuses) the files there instead of a temporary folder,
so a later ``vidssl pretrain data.dataset=unlabeled data.root=DIR/frames`` can train from them.

``--compare-old`` also times, in the same run, the clip transform as it was before issue 18
(``OldClipTransform``: float conversion before the crop, colour jitter and normalisation out of
place); its parts are not broken down.

    python benchmarks/paper_loader.py                    # 6 videos, 32 samples per format
    python benchmarks/paper_loader.py --videos 12 --samples 64 --formats frames video
    python benchmarks/paper_loader.py --videos 48 --workers 12 --dir /tmp/paper_files  # GPU host
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from vidssl.config import load_config
from vidssl.data.prepare import prepare_tree
from vidssl.data.transforms import _GREY, ClipTransform, frame_differences
from vidssl.data.video import AVVideo
from vidssl.method.registry import build_pretext_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode import texture  # noqa: E402  (benchmarks/decode.py)
from loader import loader_rate  # noqa: E402  (benchmarks/loader.py)

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "pretrain" / "ucf101_r2plus1d.yaml"
PARTS = ("open", "draw", "seek", "decode", "convert", "read", "to-float", "resize", "crop",
         "jitter", "flip+norm", "collate")


# ------------------------------------------------------------------------------ the files


def make_ucf101_like(path: Path, seconds: float, seed: int, bframes: int) -> None:
    """A 320x240 MPEG-4 Part 2 AVI at 25 fps: moving texture with sensor-like grain, so the
    bitrate and the decode cost look like camera footage (benchmarks/decode.py)."""
    base = texture(240, 320, seed)
    rng = np.random.default_rng(seed + 1)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"qscale": "4", "bf": str(bframes)}
        stream.bit_rate = 1_000_000
        for k in range(round(seconds * 25)):
            img = np.roll(base, (k, 2 * k), axis=(0, 1))
            img = img + rng.normal(0.0, 2.0, img.shape[:2])[..., None]
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), "rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def make_formats(root: Path, videos: int, bframes: int) -> dict[str, tuple[Path, float]]:
    """The three folders, and the seconds each took to write (per video); files already
    there (``--dir``) are kept."""
    raw = root / "raw"
    t0 = time.perf_counter()
    for i, seconds in enumerate(np.linspace(4, 10, videos)):
        folder = raw / f"class{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / f"v_{i:03d}.avi").is_file():
            make_ucf101_like(folder / f"v_{i:03d}.avi", float(seconds), seed=i, bframes=bframes)
    out = {"raw": (raw, (time.perf_counter() - t0) / videos)}
    for fmt in ("frames", "video"):
        t0 = time.perf_counter()
        summary = prepare_tree(raw, root / fmt, (128, 171), fmt=fmt, progress=False)
        if summary.failed:
            raise SystemExit(f"prepare {fmt} failed: {summary}")
        out[fmt] = (root / fmt, (time.perf_counter() - t0) / videos)
    return out


# ------------------------------------------------------------------------------ the rate


def recipe(root: Path) -> Any:
    return load_config(str(RECIPE), ["data.dataset=unlabeled", f"data.root={root}",
                                     "data.num_workers=0"])


class OldClipTransform(ClipTransform):
    """``ClipTransform.batch`` as it was before issue 18, verbatim: the float conversion of whole
    frames before the crop, colour jitter and normalisation out of place."""

    @staticmethod
    def _jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        b, c, sat = (factors[:, i].view(-1, 1, 1, 1, 1) for i in range(3))
        x = x * b
        w = torch.tensor(_GREY, dtype=x.dtype).view(1, 3, 1, 1, 1)
        grey = (x.clamp(0, 1) * w).sum(1, keepdim=True)
        mean = grey.mean(dim=(1, 2, 3, 4), keepdim=True)
        x = (x - mean) * c + mean
        grey = (x.clamp(0, 1) * w).sum(1, keepdim=True)
        return (x - grey) * sat + grey

    def batch(self, clips: Any, rng: np.random.Generator | None = None) -> torch.Tensor:
        if rng is None:
            rng = np.random.default_rng()
        x = torch.as_tensor(np.asarray(clips))
        n, t = x.shape[:2]
        x = x.flatten(0, 1).permute(0, 3, 1, 2).float().div_(255.0)  # (N*T, 3, H, W)
        if tuple(x.shape[-2:]) != self.resize:
            x = F.interpolate(
                x, size=self.resize, mode="bilinear", align_corners=False, antialias=True
            )
        x = x.view(n, t, 3, *self.resize).permute(0, 2, 1, 3, 4)  # (N, 3, T, H, W)
        draws = [self._draw(rng) for _ in range(n)]
        c = self.crop
        if len({(top, left) for top, left, _, _ in draws}) == 1:
            top, left = draws[0][:2]
            x = x[..., top : top + c, left : left + c].contiguous()
        else:
            x = torch.stack([x[i, ..., top : top + c, left : left + c]
                             for i, (top, left, _, _) in enumerate(draws)])
        if draws[0][2] is not None:
            x = self._jitter(x, torch.tensor(np.stack([d[2] for d in draws]), dtype=x.dtype))
        flips = [i for i, d in enumerate(draws) if d[3]]
        if flips:
            idx = torch.tensor(flips)
            x[idx] = x[idx].flip(-1)
        x = x.clamp_(0.0, 1.0)
        if self.input == "diff":
            return frame_differences(x).contiguous()
        mean, std = self.mean.unsqueeze(0), self.std.unsqueeze(0)
        return ((x - mean) / std).contiguous()


def dataset_for(root: Path, transform: str = "now") -> Any:
    """The recipe's pretext dataset over ``root``; ``transform="before"``: with
    :class:`OldClipTransform`."""
    ds = build_pretext_dataset(recipe(root), "train")
    if transform == "before":
        ds.transform.__class__ = OldClipTransform
    return ds


def samples_per_s(ds: Any, samples: int, batch: int) -> tuple[float, float]:
    """Samples/s of ``ds`` read in this process, collated in batches of ``batch``: per second
    of wall time, and per second of this process's CPU time (what a core of its own gives; the
    steadier figure on a shared machine)."""
    n = len(ds)
    ds[0]  # warm-up: imports, first allocations
    t0, c0 = time.perf_counter(), time.process_time()
    items = []
    for k in range(samples):
        ds.set_epoch(1 + k // n)
        items.append(ds[k % n])
        if len(items) == batch:
            default_collate(items)
            items = []
    if items:
        default_collate(items)
    return samples / (time.perf_counter() - t0), samples / (time.process_time() - c0)


# ------------------------------------------------------------------------------ the parts


class Parts:
    """CPU seconds of this process per part, summed over the samples of one format (CPU time:
    on a shared machine wall time also counts the waits for a core)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def time(self, part: str) -> Iterator[None]:
        t0 = time.process_time()
        try:
            yield
        finally:
            self.seconds[part] += time.process_time() - t0

    def wrap(self, part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.time(part):
                return fn(*args, **kwargs)
        return timed


def transform_in_parts(tf: ClipTransform, clips: np.ndarray, rng: np.random.Generator,
                       parts: Parts) -> torch.Tensor:
    """``tf.batch(clips, rng)`` step by step, each step timed (checked equal by the caller)."""
    with parts.time("to-float"):
        x = torch.as_tensor(clips)
        n, t = x.shape[:2]
        x = x.flatten(0, 1).permute(0, 3, 1, 2)  # (N*T, 3, H, W) uint8
        resized = tuple(x.shape[-2:]) == tf.resize
        if not resized:
            x = x.float().div_(255.0)
    with parts.time("resize"):
        if not resized:
            x = F.interpolate(x, size=tf.resize, mode="bilinear", align_corners=False,
                              antialias=True)
    with parts.time("crop"):
        x = x.view(n, t, 3, *tf.resize).permute(0, 2, 1, 3, 4)
        draws = [tf._draw(rng) for _ in range(n)]
        c = tf.crop
        x = torch.stack([x[i, ..., top:top + c, left:left + c]
                         for i, (top, left, _, _) in enumerate(draws)])
    with parts.time("to-float"):
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
    with parts.time("jitter"):
        if draws[0][2] is not None:
            x = tf._jitter(x, torch.tensor(np.stack([d[2] for d in draws]), dtype=x.dtype))
    with parts.time("flip+norm"):
        flips = [i for i, d in enumerate(draws) if d[3]]
        if flips:
            idx = torch.tensor(flips)
            x[idx] = x[idx].flip(-1)
        x = x.clamp_(0.0, 1.0)
        if tf.input == "diff":
            return frame_differences(x).contiguous()
        return x.sub_(tf.mean.unsqueeze(0)).div_(tf.std.unsqueeze(0))


def sample_in_parts(ds: Any, index: int, parts: Parts) -> dict[str, torch.Tensor]:
    """``ds[index]`` (a PretextDataset) step by step, each step timed."""
    rng = ds._rng(index)
    with parts.time("open"):
        video = ds.source.open(index)
    if isinstance(video, AVVideo):  # seek and convert are methods of the reader: time them
        video._seek = parts.wrap("seek", video._seek)
        video._rgb = parts.wrap("convert", video._rgb)
    with parts.time("draw"):
        draws = [ds.sampler.sample(video.num_frames, rng) for _ in range(2)]
    before = sum(parts.seconds[p] for p in ("seek", "convert"))
    t0 = time.process_time()
    frames = ds._frames(video, np.concatenate([d.indices for d in draws]))
    spent = time.process_time() - t0
    if isinstance(video, AVVideo):  # what the seeks and conversions did not take: decoding
        parts.seconds["decode"] += spent - (sum(parts.seconds[p] for p in ("seek", "convert"))
                                            - before)
        video.close()
    else:
        parts.seconds["read"] += spent
    clips = transform_in_parts(ds.transform, frames.reshape(2, -1, *frames.shape[1:]), rng,
                               parts)
    return {"clip": clips[0], "key": clips[1],
            "order": torch.tensor(draws[0].order, dtype=torch.int64),
            "rates": torch.from_numpy(draws[0].rates.astype(np.float32))}


def parts_per_sample(ds: Any, samples: int, batch: int) -> dict[str, float]:
    """Mean CPU ms per sample of each part, over ``samples`` samples of ``ds``."""
    parts = Parts()
    n = len(ds)
    items = []
    for k in range(samples):
        ds.set_epoch(1 + k // n)
        check = ds[k % n] if k < 2 else None  # the mirror computes what the dataset computes
        item = sample_in_parts(ds, k % n, parts)
        if check is not None:
            if not all(torch.equal(item[key], check[key]) for key in item):
                raise SystemExit("benchmarks/paper_loader.py: the timed mirror of the dataset "
                                 "no longer computes what it computes; update it")
        items.append(item)
        if len(items) == batch or k == samples - 1:
            with parts.time("collate"):
                default_collate(items)
            items = []
    return {p: 1e3 * parts.seconds.get(p, 0.0) / samples for p in PARTS}


# ------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--videos", type=int, default=6, help="videos of 4-10 s (default 6)")
    ap.add_argument("--samples", type=int, default=32,
                    help="samples timed per format and measure (default 32)")
    ap.add_argument("--formats", nargs="+", default=["raw", "frames", "video"],
                    choices=("raw", "frames", "video"))
    ap.add_argument("--bframes", type=int, default=2, help="B-frames of the raw AVIs (default 2)")
    ap.add_argument("--target", type=float, default=535.0,
                    help="samples/s the workers must feed (default 535)")
    ap.add_argument("--batch", type=int, default=16, help="collation batch (default 16)")
    ap.add_argument("--workers", type=int, default=0,
                    help="also time the training loader with this many workers (0: not)")
    ap.add_argument("--dir", metavar="DIR", help="write (or reuse) the files here, and keep them")
    ap.add_argument("--compare-old", action="store_true",
                    help="also time the clip transform as it was before issue 18")
    args = ap.parse_args()

    torch.set_num_threads(1)  # a DataLoader worker runs torch with one thread
    transforms = ["now", "before"] if args.compare_old else ["now"]
    with tempfile.TemporaryDirectory(prefix="vidssl_paper_loader_") as tmp:
        made = make_formats(Path(args.dir or tmp), args.videos, args.bframes)
        print(f"paper recipe ({RECIPE.name}): 128x171 -> 112, 16 frames x 2 clips, rates 1-8, "
              f"RGB; {args.videos} videos of 4-10 s; one process, torch 1 thread; "
              f"{args.samples} samples per measure")
        print("one-off cost per video: " + ", ".join(
            f"{fmt} {sec:.2f} s" for fmt, (_, sec) in made.items()) + " (raw = writing it)")
        rows = []
        for fmt in args.formats:
            for name in transforms:
                ds = dataset_for(made[fmt][0], name)
                rate = samples_per_s(ds, args.samples, args.batch)
                ms = (parts_per_sample(copy.copy(ds), args.samples, args.batch)
                      if name == "now" else {})
                rows.append((fmt, name, rate, ms))
        # the rates again, in the other order: drifts of a shared machine's load hit all alike
        for i, (fmt, name, rate, ms) in enumerate(reversed(rows)):
            again = samples_per_s(dataset_for(made[fmt][0], name), args.samples, args.batch)
            rows[len(rows) - 1 - i] = (fmt, name, tuple(statistics.mean(v)
                                                         for v in zip(rate, again)), ms)
        loaders = {}
        if args.workers > 0:
            for fmt in args.formats:
                cfg = recipe(made[fmt][0])
                cfg.train.batch_size = args.batch
                batches = max(4, math.ceil(args.samples * args.workers / args.batch))
                loaders[fmt] = loader_rate(cfg, build_pretext_dataset(cfg, "train"),
                                           args.workers, batches)
    head = (f"{'format':8} {'transform':10} {'wall/s':>7} {'cpu/s':>7} {'workers':>7}  "
            + " ".join(f"{p:>9}" for p in PARTS) + "  (CPU ms per sample)")
    print(head)
    for fmt, name, (wall, cpu), ms in rows:
        print(f"{fmt:8} {name:10} {wall:7.1f} {cpu:7.1f} {math.ceil(args.target / cpu):7d}  "
              + " ".join(f"{ms[p]:9.2f}" if ms else f"{'-':>9}" for p in PARTS))
    print(f"wall/s, cpu/s: samples per second of wall time and of the process's CPU time; "
          f"workers: processes needed for {args.target:.0f} samples/s at the cpu/s rate, one "
          "core each (a GPU host's cores differ: benchmarks/gpu_checks.sh loader measures there)")
    for fmt, rate in loaders.items():
        print(f"training loader, {fmt}, {args.workers} workers: {rate:.1f} samples/s "
              f"({'feeds' if rate >= args.target else 'below'} {args.target:.0f})")
    if args.compare_old:
        for fmt in args.formats:
            r = {name: rate for f, name, rate, _ in rows if f == fmt}
            print(f"{fmt}: samples/s now / before issue 18 = {r['now'][0] / r['before'][0]:.3f}"
                  f" (wall), {r['now'][1] / r['before'][1]:.3f} (cpu)")


if __name__ == "__main__":
    sys.exit(main())
