"""A pre-resized copy of a video data set (``vidssl prepare``), so decoding never starves a GPU.

Why: UCF101 / Kinetics videos are 240p-1080p, and the model sees 112x112 crops of frames resized
to 128x171 (DESIGN 6). Decoding full-size frames only to shrink them costs most of the loader's
time; decoding frames that are already 128x171 costs a fraction (``benchmarks/loader.py``).
Preparing once turns that cost into a one-off.

What is written: the source tree is mirrored under the destination, with every video
- re-encoded at the target size (``fmt="video"``, default: H.264, one keyframe every 16 frames
  so a clip's seek decodes little; ``yuv444p`` when a side is odd, since 4:2:0 chroma needs even
  sides, e.g. 171), keeping its name and container (``.webm``/``.mpg``/``.mpeg`` become
  ``.mp4``, which the Kinetics reader finds by stem); or
- stored as a frame folder ``<video name without extension>/img_00001.jpg ...``
  (``fmt="frames"``): the mmaction2 layout, which the split-list readers resolve from the
  ``.avi`` names in UCF101 / HMDB51 lists.
Frame folders in the source are resized into frame folders. Every other file (split lists,
Kinetics CSVs, class lists) is copied, so ``data.root=<destination>`` works with the same config.

Each output is written to a temporary name and renamed when complete, so an interrupted run
leaves no half-written video, and a re-run skips what is done (unless ``overwrite``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidssl.data.video import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    is_frame_folder,
    list_frame_files,
)
from vidssl.progress import progress as progress_bar

KEEP_CONTAINER = (".mp4", ".avi", ".mkv", ".mov", ".m4v")
GOP = 16  # keyframe interval of re-encoded videos: a seek decodes at most 15 extra frames


def parse_size(text: str) -> tuple[int, int]:
    """``"128x171"`` -> ``(128, 171)`` (height x width, like ``data.resize``)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be HEIGHTxWIDTH, e.g. 128x171; got {text!r}") from None
    if h < 2 or w < 2:
        raise ValueError(f"size must be at least 2x2; got {text!r}")
    return h, w


@dataclass
class PrepareSummary:
    """What a :func:`prepare_tree` run did: counts and the videos that failed (path, reason)."""

    written: int = 0
    skipped: int = 0
    copied: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"{self.written} videos written, {self.skipped} already there, "
                f"{self.copied} other files copied, {len(self.failed)} failed")
        for path, why in self.failed[:20]:
            text += f"\n  failed: {path}: {why}"
        if len(self.failed) > 20:
            text += f"\n  ... and {len(self.failed) - 20} more"
        return text


@dataclass(frozen=True)
class _Job:
    src: str
    dst: str
    kind: str  # video->video | video->frames | frames->frames


def output_path(rel: Path, is_video_file: bool, fmt: str) -> Path:
    """Where ``rel`` (a video file or frame folder, relative to the source root) goes."""
    if not is_video_file:
        return rel
    if fmt == "frames":
        return rel.with_suffix("")
    return rel if rel.suffix.lower() in KEEP_CONTAINER else rel.with_suffix(".mp4")


def _walk(src: Path, fmt: str) -> Iterator[tuple[str, Path, Path]]:
    """``(kind, source, relative output)`` for every video, frame folder and other file."""
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        here = Path(dirpath)
        if here != src and is_frame_folder(here):
            dirnames.clear()
            yield "frames", here, here.relative_to(src)
            continue
        for name in sorted(filenames):
            p = here / name
            rel = p.relative_to(src)
            if p.suffix.lower() in VIDEO_EXTENSIONS:
                yield "video", p, output_path(rel, True, fmt)
            elif p.suffix.lower() not in IMAGE_EXTENSIONS:
                yield "file", p, rel


def _tmp_name(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.partial{dst.suffix}")


def resize_video(src: str, dst: str, size: tuple[int, int], crf: int = 18) -> int:
    """Re-encode ``src`` at ``size`` (H, W) into ``dst`` (H.264); returns the frame count.

    The frame rate and the frame count are kept (every decoded frame is written once), so frame
    indices, and with them sampling rates, mean the same in the copy.
    """
    import av

    h, w = size
    out_path = Path(dst)
    tmp = _tmp_name(out_path)
    n = 0
    try:
        with av.open(src) as inp, av.open(str(tmp), mode="w") as out:
            istream = inp.streams.video[0]
            istream.thread_type = "AUTO"
            rate = Fraction(istream.average_rate or istream.guessed_rate or 25)
            tick = 1 / rate
            stream = out.add_stream("libx264", rate=rate)
            stream.height, stream.width = h, w
            stream.pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
            stream.gop_size = GOP
            # fastdecode: no CABAC or deblocking, so reading the copy costs as little as possible
            stream.options = {"crf": str(crf), "preset": "veryfast", "tune": "fastdecode",
                              "bf": "0"}
            # one converter for the whole video: frame.reformat builds one per frame
            reformatter = av.video.reformatter.VideoReformatter()
            for frame in inp.decode(istream):
                small = reformatter.reformat(frame, width=w, height=h, format=stream.pix_fmt,
                                             interpolation="AREA")
                # frame k at k / rate: the copy's timestamps give the same frame indices
                small.pts, small.time_base = n, tick
                for packet in stream.encode(small):
                    out.mux(packet)
                n += 1
            for packet in stream.encode():
                out.mux(packet)
        if n == 0:
            raise ValueError("no frames decoded")
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


def _save_frames(frames: Iterator[np.ndarray], dst: str, quality: int) -> int:
    """Write RGB frames as ``img_00001.jpg ...`` into a folder that appears complete or not at
    all (written beside it, then renamed)."""
    from PIL import Image

    out = Path(dst)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = 0
    try:
        for n, arr in enumerate(frames, 1):
            Image.fromarray(arr).save(tmp / f"img_{n:05d}.jpg", quality=quality)
        if n == 0:
            raise ValueError("no frames")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n


def video_to_frames(src: str, dst: str, size: tuple[int, int], quality: int = 90) -> int:
    """Decode ``src`` into a folder of JPEG frames resized to ``size`` (H, W)."""
    import av

    h, w = size

    def frames() -> Iterator[np.ndarray]:
        with av.open(src) as inp:
            stream = inp.streams.video[0]
            stream.thread_type = "AUTO"
            reformatter = av.video.reformatter.VideoReformatter()  # one per video
            for frame in inp.decode(stream):
                yield reformatter.reformat(frame, width=w, height=h, format="rgb24",
                                           interpolation="AREA").to_ndarray()

    return _save_frames(frames(), dst, quality)


def resize_frame_folder(src: str, dst: str, size: tuple[int, int], quality: int = 90) -> int:
    """Resize every frame of the frame folder ``src`` into ``dst`` (renumbered from 1)."""
    from PIL import Image

    h, w = size

    def frames() -> Iterator[np.ndarray]:
        for name in list_frame_files(src):
            with Image.open(os.path.join(src, name)) as im:
                yield np.asarray(im.convert("RGB").resize((w, h), Image.Resampling.BOX))

    return _save_frames(frames(), dst, quality)


def _run(job: _Job, size: tuple[int, int]) -> tuple[str, str]:
    """One job in a worker process: ``(src, "")`` when done, ``(src, reason)`` when it failed."""
    try:
        Path(job.dst).parent.mkdir(parents=True, exist_ok=True)
        if job.kind == "video->video":
            resize_video(job.src, job.dst, size)
        elif job.kind == "video->frames":
            video_to_frames(job.src, job.dst, size)
        else:
            resize_frame_folder(job.src, job.dst, size)
    except Exception as exc:  # a broken video must not stop the other thousands
        return job.src, f"{type(exc).__name__}: {exc}"
    return job.src, ""


def prepare_tree(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                 size: tuple[int, int], fmt: str = "video", workers: int = 1,
                 overwrite: bool = False, progress: bool = True) -> PrepareSummary:
    """Mirror the data set under ``src`` into ``dst`` with every video resized to ``size``.

    ``fmt``: ``video`` (re-encoded files) or ``frames`` (JPEG frame folders). ``workers``
    processes encode in parallel. Videos already present in ``dst`` are skipped unless
    ``overwrite``. Returns a summary; failed videos are listed, not raised.
    """
    if fmt not in ("video", "frames"):
        raise ValueError(f"format must be video or frames; got {fmt!r}")
    src_p, dst_p = Path(src).expanduser().resolve(), Path(dst).expanduser().resolve()
    if not src_p.is_dir():
        raise FileNotFoundError(f"source folder not found: {src_p}")
    if dst_p == src_p or src_p in dst_p.parents:
        raise ValueError(f"the destination {dst_p} must lie outside the source {src_p}")
    summary = PrepareSummary()
    jobs: list[_Job] = []
    for kind, path, rel in _walk(src_p, fmt):
        out = dst_p / rel
        if kind == "file":
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)
            summary.copied += 1
            continue
        if out.exists() and not overwrite:
            summary.skipped += 1
            continue
        what = "frames->frames" if kind == "frames" else f"video->{fmt}"
        jobs.append(_Job(str(path), str(out), what))
    bar = progress_bar(total=len(jobs), disable=not progress or not jobs, unit="video",
                       desc="prepare", file=sys.stderr)
    if workers <= 1:
        results: Iterator[tuple[str, str]] = (_run(j, size) for j in jobs)
        _collect(results, summary, bar)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            _collect(pool.map(_run, jobs, [size] * len(jobs), chunksize=4), summary, bar)
    bar.close()
    return summary


def _collect(results: Iterator[tuple[str, str]], summary: PrepareSummary, bar) -> None:
    for path, why in results:
        if why:
            summary.failed.append((path, why))
        else:
            summary.written += 1
        bar.update(1)


__all__ = ["PrepareSummary", "output_path", "parse_size", "prepare_tree", "resize_frame_folder",
           "resize_video", "video_to_frames"]
