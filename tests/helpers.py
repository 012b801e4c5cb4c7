"""Small real videos for tests, written with PyAV (H.264 / MPEG-4) or as frame folders.

``coded_frames(n)`` makes frames whose index can be read back after lossy compression:
the left half is flat grey ``16 * (k % 16) + 8`` and the right half ``16 * (k // 16) + 8``, so
``decode_index(frame)`` recovers ``k`` (up to 255) with +-7 grey levels of tolerance.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
from PIL import Image


def coded_frames(n: int, height: int = 48, width: int = 64) -> np.ndarray:
    """uint8 (n, H, W, 3) frames whose index k is readable with :func:`decode_index`."""
    if n > 256:
        raise ValueError("coded_frames encodes at most 256 frames")
    k = np.arange(n)
    out = np.empty((n, height, width, 3), np.uint8)
    out[:, :, : width // 2] = (16 * (k % 16) + 8)[:, None, None, None]
    out[:, :, width // 2 :] = (16 * (k // 16) + 8)[:, None, None, None]
    return out


def decode_index(frames: np.ndarray) -> np.ndarray:
    """The frame index each frame of (T, H, W, 3) encodes (see :func:`coded_frames`)."""
    frames = np.asarray(frames, dtype=np.float64)
    h, w = frames.shape[1:3]
    # Sample away from the centre edge, where the codec blurs the two halves together.
    left = frames[:, h // 4 : 3 * h // 4, w // 8 : 3 * w // 8].mean(axis=(1, 2, 3))
    right = frames[:, h // 4 : 3 * h // 4, 5 * w // 8 : 7 * w // 8].mean(axis=(1, 2, 3))
    lo = np.clip(np.round((left - 8) / 16), 0, 15).astype(int)
    hi = np.clip(np.round((right - 8) / 16), 0, 15).astype(int)
    return hi * 16 + lo


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    codec: str = "h264",
    fps: int = 25,
    gop: int = 12,
) -> Path:
    """Write uint8 (T, H, W, 3) RGB ``frames`` as a real encoded video file.

    ``codec`` is "h264" (libx264, near-lossless, with B-frames) or "mpeg4" (MPEG-4 Part 2, the
    xvid-like codec of UCF101's .avi files). ``gop`` keyframe interval: small so that seeking
    is exercised even in short test videos.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames, np.uint8)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264" if codec == "h264" else codec, rate=fps)
        stream.width = frames.shape[2]
        stream.height = frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.gop_size = gop
        if codec == "h264":
            stream.options = {"crf": "10", "preset": "ultrafast", "bf": "2"}
        else:
            stream.options = {"qscale": "2"}
            stream.bit_rate = 4_000_000
        for arr in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_frame_folder(
    folder: str | os.PathLike[str],
    frames: np.ndarray,
    pattern: str = "img_{:05d}.jpg",
    start: int = 1,
) -> Path:
    """Write frames as numbered JPEG/PNG images (mmaction2 ``img_00001.jpg`` style by default)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, arr in enumerate(np.asarray(frames, np.uint8)):
        Image.fromarray(arr).save(folder / pattern.format(i + start), quality=95)
    return folder
