"""Clips per second: the seeking reader vs decoding the whole video per clip.

Generates a 320x240 H.264 video of 300 frames (keyframe every 25 frames) in a temporary
folder, draws pretext clips (T=16, n=3, rates 1..8) and reads them two ways:

- ``AVVideo.frames``: seek to the keyframe before the clip's first frame, decode to its last;
- baseline: decode every frame of the file per clip, keep the clip's frames.

Run: ``python benchmarks/decode.py [--clips 60] [--threads]``. Prints both rates and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from vidssl.data.sampling import PretextSampler
from vidssl.data.video import AVVideo


def make_video(path: Path, frames: int = 300, width: int = 320, height: int = 240) -> None:
    rng = np.random.default_rng(0)
    # Smooth blobs (low-frequency noise, upsampled) rather than pixel noise: bitrate and
    # decode cost like camera footage, not like static.
    small = rng.integers(0, 255, (height // 16, width // 16, 3)).astype(np.float32)
    base = np.kron(small, np.ones((16, 16, 1), np.float32))
    for _ in range(3):
        base = (base + np.roll(base, 4, 0) + np.roll(base, 4, 1) + np.roll(base, 4, (0, 1))) / 4
    base = base.astype(np.uint8)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = 25
        stream.options = {"preset": "veryfast", "crf": "23"}
        for k in range(frames):
            img = np.roll(base, 3 * k, axis=1)  # moving texture: realistic P-frame sizes
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def whole_video_clip(path: Path, indices: np.ndarray) -> np.ndarray:
    """Baseline: decode the whole file, keep the wanted frames."""
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return np.stack([frames[i] for i in indices])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=60, help="clips per method (default 60)")
    ap.add_argument("--threads", action="store_true", help="FFmpeg decode threads (AUTO)")
    args = ap.parse_args()
    sampler = PretextSampler()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        make_video(path)
        rng = np.random.default_rng(0)
        draws = [sampler.sample(300, rng).indices for _ in range(args.clips)]
        t0 = time.perf_counter()
        for idx in draws:
            with AVVideo(str(path), threads=args.threads) as video:  # opened per clip, like
                clip = video.frames(idx)  # a Dataset does
        seek_rate = args.clips / (time.perf_counter() - t0)
        check = whole_video_clip(path, draws[-1])
        assert np.array_equal(clip, check), "seeking reader returned different frames"
        t0 = time.perf_counter()
        for idx in draws:
            whole_video_clip(path, idx)
        whole_rate = args.clips / (time.perf_counter() - t0)
    print(f"video: 320x240 H.264, 300 frames, GOP 25; {args.clips} pretext clips (T=16, r 1..8)")
    print(f"seek + decode span : {seek_rate:7.1f} clips/s")
    print(f"decode whole video : {whole_rate:7.1f} clips/s")
    print(f"ratio              : {seek_rate / whole_rate:7.2f}x")


if __name__ == "__main__":
    main()
