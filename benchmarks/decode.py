"""Decoding real-looking files: per-frame decode vs RGB conversion, and the loader's clips/s.

Generates, with PyAV, three kinds of file in a temporary folder (``--videos`` of each,
``--frames`` frames, moving smooth texture so bitrate and decode cost look like camera footage):

- H.264 320x240 ``.mp4`` (yuv420p, keyframe every 25 frames: the seeking reader's case);
  the lossy kinds get sensor-like grain, so their bitrate is that of camera footage;
- MPEG-4 Part 2 640x480 ``.avi`` with B-frames (xvid-like, as UCF101/HMDB51 and the gesture
  recordings: the reader decodes these from the start, see ``data/video.py``);
- lossless FFV1 64x64 ``.mkv`` (bgr0: exact RGB, e.g. a rendered synthetic set).

Per kind it prints, in milliseconds per frame:

- ``decode``: the codec alone (``container.decode``, frames kept as the codec made them);
- ``to_ndarray``: the old conversion, ``frame.to_ndarray(format="rgb24")`` per frame, which
  builds a new swscale converter every call;
- ``reused``: one ``VideoReformatter`` for all frames (what ``AVVideo`` does now; the pixels
  are identical, which is checked);
- ``+HxW``: the reused converter also scaling to a training size (``--sizes``, default the
  paper's 128x171 and the demo's 32x32) in the same pass (``AVVideo.frames(..., size=)``);
- ``.../dec``: each conversion as a share of the decode time. With a resize the converter
  does work that the transform's ``F.interpolate`` did before on float frames, so that share
  is not all new cost.

Then, per kind, the training loader of the demo recipe (``vidssl/configs/demo.yaml``: R3D
width 1/4, 32x32 frame differences, batch 16) reading those files with ``data.dataset:
unlabeled``, in clips/s: before (the old ``to_ndarray`` conversion, full-size frames resized
by the transform) and now (reused converter, resize on decode), with the config's
``data.num_workers`` and with 2 workers, next to the model-only rate of the same recipe
(pretraining steps on a batch held in memory, as ``benchmarks/loader.py`` measures it). The
loader keeps up when its rate is at least the model's.

    python benchmarks/decode.py [--frames 150] [--videos 4] [--batches 8] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loader import loader_rate, model_rate  # noqa: E402  (benchmarks/loader.py)

import vidssl  # noqa: E402
from vidssl.config import load_config  # noqa: E402
from vidssl.data import video as video_module  # noqa: E402
from vidssl.data.video import _scale_flags  # noqa: E402
from vidssl.method.registry import build_pretext_dataset  # noqa: E402

KINDS = {  # name: (codec, container suffix, width, height, pix_fmt, options, grain)
    "H.264 320x240": ("libx264", ".mp4", 320, 240, "yuv420p",
                      {"preset": "veryfast", "crf": "18", "g": "25"}, 4.0),
    "MPEG-4 640x480": ("mpeg4", ".avi", 640, 480, "yuv420p", {"qscale": "4", "bf": "2"}, 1.0),
    "FFV1 64x64": ("ffv1", ".mkv", 64, 64, "bgr0", {}, 0.0),
}


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth colour blobs (low-frequency noise, upsampled), float32 in [0, 255): camera-like,
    not static. ``benchmarks/paper_loader.py`` makes its files from it too."""
    rng = np.random.default_rng(seed)
    cell = max(4, min(height, width) // 12)
    small = rng.integers(0, 255, (height // cell + 2, width // cell + 2, 3)).astype(np.float32)
    base = np.kron(small, np.ones((cell, cell, 1), np.float32))[:height, :width]
    for _ in range(3):
        base = (base + np.roll(base, 2, 0) + np.roll(base, 2, 1) + np.roll(base, 2, (0, 1))) / 4
    return base


def make_video(path: Path, kind: str, frames: int, seed: int) -> None:
    codec, _, width, height, pix_fmt, options, grain = KINDS[kind]
    base = np.floor(texture(height, width, seed))  # whole levels, as these files always had
    rng = np.random.default_rng(seed + 1)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = dict(options)
        if codec == "mpeg4":
            stream.bit_rate = 2_000_000
        for k in range(frames):
            img = np.roll(base, (k, 2 * k), axis=(0, 1))  # moving texture: real P/B-frames
            if grain:  # sensor noise: the bitrate of camera footage (gestures: 3.5 KB/frame)
                img = img + rng.normal(0.0, grain, img.shape[:2])[..., None]
            img = np.clip(img, 0, 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))


def per_frame_ms(frames: list, convert: Callable[[object], np.ndarray], group: int = 32) -> float:
    """Mean ms per frame of ``convert``, keeping ``group`` results alive at a time and stacking
    them, as the reader keeps a clip's frames (fresh buffers cost page faults too)."""
    t0 = time.perf_counter()
    for i in range(0, len(frames), group):
        np.stack([convert(f) for f in frames[i : i + group]])
    return 1e3 * (time.perf_counter() - t0) / len(frames)


def decode_all(path: Path) -> tuple[list, float]:
    """Every frame of ``path`` as the codec made it (one decoder thread, as in a DataLoader
    worker), and the ms per frame that took."""
    with av.open(str(path)) as c:
        c.streams.video[0].thread_count = 1
        t0 = time.perf_counter()
        frames = list(c.decode(video=0))
        return frames, 1e3 * (time.perf_counter() - t0) / len(frames)


def frame_table(path: Path, sizes: list[tuple[int, int]], reps: int) -> dict[str, float]:
    """Per-frame ms of decode and the conversions, each the median of ``reps`` passes (robust
    to bursts of other load on a shared machine). Every pass converts freshly decoded frames,
    as the reader does: ``to_ndarray`` leaves its converter on the frame, so converting the
    same frame objects again would time the reuse it lacks in the reader."""
    reformatter = VideoReformatter()

    def reused(f: object) -> np.ndarray:
        return reformatter.reformat(f, format="rgb24", threads=1).to_ndarray()

    def resizer(size: tuple[int, int]) -> Callable[[object], np.ndarray]:
        def resized(f: object) -> np.ndarray:
            return reformatter.reformat(f, width=size[1], height=size[0], format="rgb24",
                                        interpolation=_scale_flags(), threads=1).to_ndarray()

        return resized

    frames, decode = decode_all(path)
    for f in frames[:5]:
        assert np.array_equal(f.to_ndarray(format="rgb24"), reused(f)), "pixels differ"
    conversions: dict[str, Callable[[object], np.ndarray]] = {
        "to_ndarray": lambda f: f.to_ndarray(format="rgb24"),
        "reused": reused,
        **{f"+{h}x{w}": resizer((h, w)) for h, w in sizes},
    }
    times: dict[str, list[float]] = {"decode": [], **{name: [] for name in conversions}}
    for _ in range(reps):
        for name, convert in conversions.items():
            frames, decode = decode_all(path)
            times["decode"].append(decode)
            times[name].append(per_frame_ms(frames, convert))
    return {name: float(np.median(t)) for name, t in times.items()}


class OldConversion:
    """Put the reader back as it was: ``to_ndarray`` per frame, no resize on decode (the
    transform resizes). Module-level patches reach forked DataLoader workers."""

    def __enter__(self) -> OldConversion:
        self.saved = video_module.AVVideo._rgb
        video_module.AVVideo._rgb = lambda self, frame, size: frame.to_ndarray(format="rgb24")
        return self

    def __exit__(self, *exc: object) -> None:
        video_module.AVVideo._rgb = self.saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150, help="frames per video (default 150)")
    ap.add_argument("--videos", type=int, default=4, help="videos of each kind (default 4)")
    ap.add_argument("--batches", type=int, default=8, help="timed batches per loader rate")
    ap.add_argument("--sizes", default="128x171,32x32",
                    help="resizes for the per-frame table, HxW,... (default: paper, demo)")
    ap.add_argument("--reps", type=int, default=5, help="passes per per-frame figure (median)")
    ap.add_argument("--workers", type=int, default=-1,
                    help="loader workers (default: the demo config's data.num_workers)")
    args = ap.parse_args()
    sizes = [(int(h), int(w)) for h, w in (v.lower().split("x") for v in args.sizes.split(","))]
    demo = Path(vidssl.__file__).parent / "configs" / "demo.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for j, kind in enumerate(KINDS):
            folders[kind] = Path(tmp) / f"kind{j}"
            folders[kind].mkdir()
            for v in range(args.videos):
                make_video(folders[kind] / f"v{v}{KINDS[kind][1]}", kind, args.frames, v)

        print("per frame, ms (one thread; decode; conversion to rgb24: old, reused converter, "
              "reused converter resizing to HxW; conversion / decode)")
        table = {kind: frame_table(next(folder.iterdir()), sizes, args.reps)
                 for kind, folder in folders.items()}
        cols = list(next(iter(table.values())))
        print(f"{'':16}" + "".join(f"{c:>11}" for c in cols) + "".join(
            f"{c + '/dec':>15}" for c in cols[2:]))
        for kind, row in table.items():
            print(f"{kind:16}" + "".join(f"{row[c]:11.3f}" for c in cols) + "".join(
                f"{100 * row[c] / row['decode']:14.0f}%" for c in cols[2:]))
        print("\nloader of the demo recipe on these files, clips/s:")
        cfgs, datasets = {}, {}
        for kind, folder in folders.items():
            cfgs[kind] = load_config(str(demo), ["data.dataset=unlabeled", f"data.root={folder}"])
            datasets[kind] = build_pretext_dataset(cfgs[kind], "train", train=True)
        cfg0, ds0 = next(iter(cfgs.values())), next(iter(datasets.values()))
        if cfg0.train.threads > 0:
            torch.set_num_threads(cfg0.train.threads)
        configured = cfg0.data.num_workers if args.workers < 0 else args.workers
        # the model is timed before and after the loaders (the mean), so a change in the load
        # of a shared machine shows up as a spread rather than as a bias
        first = model_rate(cfg0, ds0, torch.device("cpu"), args.batches)
        rows = []
        for kind, cfg in cfgs.items():
            for workers in dict.fromkeys((configured, 2)):
                with OldConversion():
                    cfg.data.resize_on_decode = False
                    old_ds = build_pretext_dataset(cfg, "train", train=True)
                    before = loader_rate(cfg, old_ds, workers, args.batches)
                cfg.data.resize_on_decode = True
                now = loader_rate(cfg, datasets[kind], workers, args.batches)
                rows.append((kind, workers, before, now))
        last = model_rate(cfg0, ds0, torch.device("cpu"), args.batches)
        model = (first + last) / 2
        print(f"model only (R3D width {cfg0.model.width}, {cfg0.data.crop}x{cfg0.data.crop} "
              f"{cfg0.data.input}, batch {cfg0.train.batch_size}, {torch.get_num_threads()} "
              f"thread(s); before {first:.1f}, after {last:.1f}): {model:.1f} clips/s")
        print(f"{'':16}{'workers':>8}{'before':>9}{'now':>9}{'gain':>7}{'x model':>9}")
        for kind, workers, before, now in rows:
            note = "" if now >= model else "  loader is the bottleneck"
            print(f"{kind:16}{workers:8d}{before:9.1f}{now:9.1f}{now / before:6.1f}x"
                  f"{now / model:9.2f}{note}")

if __name__ == "__main__":
    main()
