"""Small real videos for tests, written with PyAV (H.264 / MPEG-4) or as frame folders.

``coded_frames(n)`` makes frames whose index can be read back after lossy compression: three
vertical bands hold the base-8 digits of ``k`` as flat grey levels ``32 * digit + 16``, so
``decode_index(frame)`` recovers ``k`` (up to 511) with +-15 grey levels of tolerance (MPEG-4
B-frames drift by about 10 levels on flat areas).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import av
import numpy as np
from PIL import Image


def coded_frames(n: int, height: int = 48, width: int = 96) -> np.ndarray:
    """uint8 (n, H, W, 3) frames whose index k is readable with :func:`decode_index`."""
    if n > 512:
        raise ValueError("coded_frames encodes at most 512 frames")
    k = np.arange(n)
    out = np.empty((n, height, width, 3), np.uint8)
    third = width // 3
    for band in range(3):
        digit = (k // 8**band) % 8
        out[:, :, band * third : (band + 1) * third] = (32 * digit + 16)[:, None, None, None]
    return out


def decode_index(frames: np.ndarray) -> np.ndarray:
    """The frame index each frame of (T, H, W, 3) encodes (see :func:`coded_frames`)."""
    frames = np.asarray(frames, dtype=np.float64)
    h, w = frames.shape[1:3]
    third = w // 3
    k = np.zeros(len(frames), dtype=int)
    for band in range(3):
        # Sample the middle of each band, away from the edges the codec blurs.
        x0, x1 = band * third + third // 4, band * third + 3 * third // 4
        level = frames[:, h // 4 : 3 * h // 4, x0:x1].mean(axis=(1, 2, 3))
        k += np.clip(np.round((level - 16) / 32), 0, 7).astype(int) * 8**band
    return k


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    codec: str = "h264",
    fps: int = 25,
    gop: int = 12,
    b_frames: int = 2,
) -> Path:
    """Write uint8 (T, H, W, 3) RGB ``frames`` as a real encoded video file.

    ``codec`` is "h264" (libx264, near-lossless, with B-frames) or "mpeg4" (MPEG-4 Part 2, the
    xvid-like codec of UCF101's .avi files). ``gop`` keyframe interval: small so that seeking
    is exercised even in short test videos. ``b_frames``: B-frames between references (UCF101
    and HMDB51 AVIs have them; they are what makes AVI timestamps unreliable).
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
            stream.options = {"crf": "10", "preset": "ultrafast", "bf": str(b_frames)}
        else:
            stream.options = {"qscale": "2", "bf": str(b_frames)}
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


def starts_with_markdown_table(text: str) -> bool:
    """Whether ``text``, after its ``#`` title lines and blank lines, starts with a table a
    markdown renderer draws: a header row, then a separator row with one ``---`` cell per
    column, at the start of the line (no list item, quote or code indentation)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) < 3:
        return False
    head, sep = lines[0], lines[1]
    if not (head.startswith("|") and head.rstrip().endswith("|") and sep.startswith("|")):
        return False
    cells = [c.strip() for c in sep.strip().strip("|").split("|")]
    return len(cells) == head.count("|") - 1 and all(
        re.fullmatch(r":?-{3,}:?", c) for c in cells) and lines[2].startswith("|")
