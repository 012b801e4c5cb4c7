""" "A video": frame count, frame rate, and random access to RGB frames.

Three implementations share the :class:`Video` protocol:

- :class:`AVVideo` reads video files (mp4, avi, webm, mkv, ...) with PyAV. A clip needs a few
  dozen frames out of hundreds, so the reader never decodes a whole file per clip: it seeks to
  the keyframe at or before the first wanted frame and decodes forward to the last one. Wanted
  frames that lie far apart (evaluation clips spread over the video) are read in separate
  seek-and-decode runs.
- :class:`FrameFolderVideo` reads a folder of numbered images, as mmaction2 (``img_00001.jpg``)
  or the Pace code (``frame000001.jpg``) write them.
- :class:`ArrayVideo` wraps an in-memory uint8 array (the synthetic data set).

Why frame indices come from timestamps: container metadata (``stream.frames``, durations) is
often wrong, especially for AVI files cut from longer recordings and for web videos. The reader
therefore never trusts a frame counter; each decoded frame's index is computed from its
presentation timestamp, ``round((pts - start_pts) * time_base * fps)`` with ``fps`` the stream's
average rate, so a seek that lands on a keyframe yields correctly numbered frames. For a
variable-frame-rate stream, index ``k`` is the last frame shown at or before time ``k / fps``.

When the metadata over-states the frame count, the decoder reaches the end of the stream before
the last wanted frame (a frame FFmpeg flags as corrupt, such as the half-written last frame of
a truncated file, counts as the end). The reader then corrects ``num_frames`` to the true
count and raises :class:`ShortVideoError` carrying it, instead of returning fewer or repeated
frames; callers draw a new clip for the corrected length.

Decoding at the codec's speed: a decoded frame is YUV (or another codec format) and has to be
converted to RGB. Each :class:`AVVideo` keeps one ``VideoReformatter`` (one swscale context)
for all its frames: ``frame.to_ndarray(format="rgb24")`` builds a new converter per frame,
which cost several times the decode itself (``benchmarks/decode.py``). The conversion can
also scale: ``frames(indices, size=(H, W))`` returns frames already at ``(H, W)``, converted
and resized in the same swscale pass (bilinear, antialiased when shrinking, chroma
interpolated at full resolution: within a few grey levels of converting first and then
resizing with ``F.interpolate(..., antialias=True)``). Without ``size`` the frames are
exactly what ``to_ndarray(format="rgb24")`` gives. The training and evaluation transforms
ask for their ``data.resize`` this way (``data.resize_on_decode``, see
:class:`~vidssl.data.transforms.ClipTransform`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vidssl.errors import ConfigError, UserError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


class VideoError(UserError, RuntimeError):
    """A video is missing, empty, or cannot be decoded (the message starts with its path)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class ShortVideoError(VideoError):
    """The video holds fewer frames than its metadata said; ``true_count`` is what it holds.

    The video object has already corrected its ``num_frames`` when this is raised.
    """

    def __init__(self, path: str, claimed: int, true_count: int) -> None:
        super().__init__(
            path, f"metadata said {claimed} frames but the stream ends after {true_count}"
        )
        self.claimed = claimed
        self.true_count = true_count


@runtime_checkable
class Video(Protocol):
    """What the samplers and datasets need from a video."""

    path: str
    num_frames: int
    fps: float

    def frames(
        self, indices: Sequence[int], size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """uint8 ``(len(indices), H, W, 3)`` RGB; indices may repeat and need not be sorted.

        ``size=(H, W)`` asks for frames scaled to that size by the reader, where it can do so
        while decoding (files: in the RGB conversion; frame folders: while loading each
        image). In-memory videos return their frames unscaled, so a caller that needs the
        size exactly checks the shape (as :class:`~vidssl.data.transforms.ClipTransform`
        does, resizing what does not match).
        """
        ...


def _check_indices(path: str, indices: Sequence[int], num_frames: int) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError(f"{path}: no frame indices asked for")
    if idx.min() < 0 or idx.max() >= num_frames:
        raise IndexError(
            f"{path}: frame indices {int(idx.min())}..{int(idx.max())} outside 0..{num_frames - 1}"
        )
    return idx


class ArrayVideo:
    """A video held in memory as a uint8 array ``(N, H, W, 3)``."""

    def __init__(self, frames: np.ndarray, fps: float = 25.0, path: str = "<memory>") -> None:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"{path}: ArrayVideo wants uint8 (N, H, W, 3); got {frames.dtype} {frames.shape}"
            )
        if frames.shape[0] == 0:
            raise VideoError(path, "no frames")
        self._frames = frames
        self.path = path
        self.fps = float(fps)
        self.num_frames = int(frames.shape[0])

    def frames(
        self, indices: Sequence[int], size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """The stored frames; ``size`` is ignored: in memory there is no decode pass to fold
        a resize into, and resizing here would round to uint8 what the transform resizes in
        float."""
        idx = _check_indices(self.path, indices, self.num_frames)
        return self._frames[idx]

    def __repr__(self) -> str:
        return f"ArrayVideo({self.path!r}, frames={self.num_frames}, fps={self.fps})"


# --------------------------------------------------------------------------------------------
# Frame folders
# --------------------------------------------------------------------------------------------

_AUTO_FRAME_RE = re.compile(r"^(\D*?)(\d+)\.(jpg|jpeg|png|bmp)$", re.IGNORECASE)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Turn a frame file pattern into a regex whose group 1 is the frame number.

    Accepts Python format (``img_{:05d}.jpg``) or printf style (``frame%06d.jpg``); the number
    may have any width, so ``img_{:05d}.jpg`` also matches ``img_123456.jpg``.
    """
    m = re.search(r"\{[^{}]*\}|%0?\d*d", pattern)
    if not m:
        raise ConfigError(
            f"frame pattern {pattern!r} has no number field (use e.g. img_{{:05d}}.jpg)"
        )
    return re.compile(
        "^" + re.escape(pattern[: m.start()]) + r"(\d+)" + re.escape(pattern[m.end() :]) + "$"
    )


def list_frame_files(folder: str | os.PathLike[str], frame_pattern: str = "") -> list[str]:
    """The frame image names of ``folder`` in frame order (sorted by their number).

    With ``frame_pattern=""`` the pattern is detected: any ``<prefix><number>.<image ext>``;
    when several prefixes occur (say ``img_`` and ``flow_x_`` in mmaction2 folders), ``img_``
    then ``frame`` win, else the most common one.
    """
    names = os.listdir(folder)
    if frame_pattern:
        rx = pattern_regex(frame_pattern)
        numbered = [(int(m.group(1)), n) for n in names if (m := rx.match(n))]
    else:
        by_prefix: dict[str, list[tuple[int, str]]] = {}
        for n in names:
            m = _AUTO_FRAME_RE.match(n)
            if m:
                by_prefix.setdefault(m.group(1), []).append((int(m.group(2)), n))
        if not by_prefix:
            return []
        preferred = [p for p in ("img_", "frame", "image_", "") if p in by_prefix]
        prefix = preferred[0] if preferred else max(by_prefix, key=lambda p: len(by_prefix[p]))
        numbered = by_prefix[prefix]
    numbered.sort()
    return [n for _, n in numbered]


def is_frame_folder(path: str | os.PathLike[str], frame_pattern: str = "") -> bool:
    p = Path(path)
    return p.is_dir() and bool(list_frame_files(p, frame_pattern))


class FrameFolderVideo:
    """A folder of numbered images; frame ``k`` is the ``k``-th file in number order.

    Counting files (not trusting their first number) handles folders that start at 0 or 1.
    """

    def __init__(self, path: str, frame_pattern: str = "", fps: float = 25.0) -> None:
        self.path = str(path)
        if not os.path.isdir(self.path):
            raise VideoError(self.path, "frame folder not found")
        self._files = list_frame_files(self.path, frame_pattern)
        if not self._files:
            what = f"matching {frame_pattern!r}" if frame_pattern else "named <prefix><number>.jpg"
            raise VideoError(self.path, f"no frame images {what}")
        self.num_frames = len(self._files)
        self.fps = float(fps)

    def frames(
        self, indices: Sequence[int], size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Frames as stored, or at ``size=(H, W)``: JPEGs are then decoded at a reduced
        scale where that still covers ``size`` (PIL's draft mode) and resized with PIL's
        antialiased bilinear filter."""
        from PIL import Image

        idx = _check_indices(self.path, indices, self.num_frames)
        cache: dict[int, np.ndarray] = {}
        for k in np.unique(idx):
            name = os.path.join(self.path, self._files[int(k)])
            try:
                with Image.open(name) as im:
                    if size is None:
                        cache[int(k)] = np.asarray(im.convert("RGB"))
                        continue
                    wh = (int(size[1]), int(size[0]))
                    im.draft("RGB", wh)
                    rgb = im.convert("RGB")
                    if rgb.size != wh:
                        rgb = rgb.resize(wh, Image.Resampling.BILINEAR)
                    cache[int(k)] = np.asarray(rgb)
            except (OSError, ValueError) as exc:
                raise VideoError(self.path, f"cannot read frame {name}: {exc}") from exc
        shapes = {a.shape for a in cache.values()}
        if len(shapes) > 1:
            raise VideoError(self.path, f"frames differ in size: {sorted(shapes)}")
        return np.stack([cache[int(k)] for k in idx])

    def __repr__(self) -> str:
        return f"FrameFolderVideo({self.path!r}, frames={self.num_frames})"


# --------------------------------------------------------------------------------------------
# Video files (PyAV)
# --------------------------------------------------------------------------------------------


_AV_PICTURE_TYPE_B = 3  # FFmpeg's AVPictureType value for B-frames


@functools.cache
def _scale_flags() -> int:
    """swscale flags for converting and resizing in one pass: bilinear (whose support widens
    with the shrink factor, so it is antialiased like ``F.interpolate(antialias=True)``), with
    the chroma planes interpolated to full resolution before the RGB conversion. Without the
    two chroma flags a strong shrink of 4:2:0 video (240p to 32x32) is off by ~15 grey levels
    on average from converting first and resizing after; with them by ~2."""
    from av.video.reformatter import Interpolation

    return int(
        Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
    )


class AVVideo:
    """A video file decoded with PyAV, seeking to the keyframe before each run of wanted frames.

    ``threads=True`` lets FFmpeg decode with several threads (``thread_type="AUTO"``); leave it
    off inside DataLoader workers, which are already parallel. ``seek_gap``: wanted frames more
    than this many frames apart are read by a new seek instead of decoding through the gap.
    The container stays open between :meth:`frames` calls; :meth:`close` (or ``with``) frees it.
    """

    def __init__(self, path: str, threads: bool = False, seek_gap: int = 64) -> None:
        import av

        self.path = str(path)
        self.threads = threads
        self.seek_gap = seek_gap
        if not os.path.isfile(self.path):
            raise VideoError(self.path, "file not found")
        if os.path.getsize(self.path) == 0:
            raise VideoError(self.path, "empty file (0 bytes)")
        try:
            self._container = av.open(self.path)
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise VideoError(self.path, f"not a readable video: {exc}") from exc
        if not self._container.streams.video:
            self.close()
            raise VideoError(self.path, "no video stream")
        stream = self._container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        self._stream = stream
        from av.video.reformatter import VideoReformatter

        # one converter for every frame of this video (see the module docstring); swscale's
        # own threads only when FFmpeg may use several (not inside DataLoader workers)
        self._reformatter = VideoReformatter()
        self._sws_threads = 0 if threads else 1
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or rate <= 0:
            self.close()
            raise VideoError(self.path, "stream has no frame rate")
        self._rate = Fraction(rate)
        self.fps = float(rate)
        self._time_base = Fraction(stream.time_base) if stream.time_base else None
        self._start_pts = stream.start_time if stream.start_time is not None else 0
        self.timestamps_ok = True
        self.metadata_frames = self._metadata_count()
        if self.metadata_frames <= 0:
            self.metadata_frames = self._count_by_decoding()
        if self.metadata_frames <= 0:
            self.close()
            raise VideoError(self.path, "no decodable frames")
        self.num_frames = self.metadata_frames
        self.timestamps_ok = self._check_timestamps()

    def _metadata_count(self) -> int:
        """Frame count from the stream header, else from the duration; may be wrong."""
        s = self._stream
        if s.frames and s.frames > 0:
            return int(s.frames)
        if s.duration and self._time_base is not None:
            return int(round(float(s.duration * self._time_base * self._rate)))
        if self._container.duration:
            return int(round(self._container.duration / 1_000_000 * self.fps))
        return 0

    def _count_by_decoding(self) -> int:
        """Last resort when the header says nothing: decode once and count."""
        import av

        last = -1
        try:
            self._container.seek(0)
            for i, frame in enumerate(self._container.decode(self._stream)):
                last = max(last, self._frame_index(frame, i))
        except av.FFmpegError:
            pass
        return last + 1

    def _check_timestamps(self, probe: int = 6) -> bool:
        """Decode the first frames and check their timestamps number them 0, 1, 2, ...

        AVI has no presentation timestamps: with B-frames (xvid/DivX as in UCF101 and HMDB51,
        H.264 in AVI) FFmpeg labels the frames out of order or from 1, and after a seek the
        decoder can even emit a frame twice in place of its neighbour (seen with MPEG-4 Part 2
        "packed bitstream" AVIs). Such a file (AVI with B-frames, or timestamps that are not
        increasing) is read in counting mode: decode from the start and number frames in
        output order, which is correct but cannot seek. A file passing this check can still
        switch to counting mode later, if a scan meets timestamps that go backwards.
        """
        import av

        indices = []
        b_frames = False
        try:
            self._container.seek(0)
            for frame in self._container.decode(self._stream):
                if frame.pts is None:
                    return False
                b_frames |= int(frame.pict_type) == _AV_PICTURE_TYPE_B
                if not indices:
                    # The first frame is frame 0 whatever its timestamp (edit lists, B-frame
                    # delay): count from it.
                    self._start_pts = frame.pts
                indices.append(self._frame_index(frame, len(indices)))
                if len(indices) >= probe:
                    break
        except av.FFmpegError:
            return False
        if b_frames and "avi" in self._container.format.name:
            return False
        return bool(indices) and all(b > a for a, b in zip(indices, indices[1:], strict=False))

    def _frame_index(self, frame: object, fallback: int) -> int:
        pts = getattr(frame, "pts", None)
        if not self.timestamps_ok or pts is None or self._time_base is None:
            return fallback
        return int(round(float((pts - self._start_pts) * self._time_base * self._rate)))

    def _seek(self, index: int) -> None:
        """Seek to the keyframe at or before frame ``index`` (a no-op for index 0 at start)."""
        if self._time_base is None:
            self._container.seek(0)
            return
        target = self._start_pts + int(index / self._rate / self._time_base)
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)

    def _rgb(self, frame: object, size: tuple[int, int] | None) -> np.ndarray:
        """The frame as uint8 ``(H, W, 3)`` RGB, through this video's one converter; scaled to
        ``size`` in the same pass when given. Without ``size`` the pixels equal
        ``frame.to_ndarray(format="rgb24")``'s (same swscale conversion, same default flags)."""
        if size is None:
            rgb = self._reformatter.reformat(frame, format="rgb24", threads=self._sws_threads)
        else:
            rgb = self._reformatter.reformat(
                frame,
                width=int(size[1]),
                height=int(size[0]),
                format="rgb24",
                interpolation=_scale_flags(),
                threads=self._sws_threads,
            )
        return rgb.to_ndarray()

    def _scan(
        self,
        pending: list[int],
        out: dict[int, np.ndarray],
        check_overshoot: bool,
        size: tuple[int, int] | None = None,
    ) -> int:
        """Decode forward from the current position, filling ``out`` for ``pending`` indices.

        Returns the index of the last frame decoded, -2 when ``check_overshoot`` is set and
        the first decoded frame already lies after ``pending[0]`` (the seek went too far), or
        -3 when timestamps turned out unreliable (``timestamps_ok`` is then False).
        """
        import av

        prev = None
        last = -1
        p = 0
        try:
            for frame in self._container.decode(self._stream):
                if frame.is_corrupt:
                    # FFmpeg concealed damage with pieces of other frames (a truncated
                    # file's last frame): the video ends before it.
                    break
                k = self._frame_index(frame, last + 1)
                if last == -1 and check_overshoot and k > pending[0]:
                    return -2
                if k <= last:
                    # Timestamps went backwards or repeated: they cannot be trusted.
                    self.timestamps_ok = False
                    return -3
                # Index k is the last frame shown at or before time k / fps, so wanted
                # indices skipped over (variable frame rate) are shown by the previous frame.
                while p < len(pending) and pending[p] < k:
                    if prev is not None:
                        out[pending[p]] = self._rgb(prev, size)
                    p += 1
                if p < len(pending) and pending[p] == k:
                    out[k] = self._rgb(frame, size)
                    p += 1
                prev, last = frame, k
                if p >= len(pending):
                    break
        except av.FFmpegError as exc:
            if last < 0:
                raise VideoError(self.path, f"decoding failed: {exc}") from exc
            # A corrupt tail: what decoded before it is the video.
        return last

    def _decode_run(
        self, wanted: np.ndarray, out: dict[int, np.ndarray], size: tuple[int, int] | None
    ) -> None:
        """Fill ``out`` with the frames of sorted unique ``wanted`` indices, from one seek."""
        pending = [int(k) for k in wanted]
        last = -2
        if self.timestamps_ok:
            self._seek(pending[0])
            last = self._scan(pending, out, check_overshoot=pending[0] > 0, size=size)
        if last < -1:
            # The seek landed after the first wanted frame (coarse AVI/webm indexes), or the
            # timestamps are unusable: decode from the very start (counting mode if need be).
            for k in pending:
                out.pop(k, None)
            self._container.seek(0)
            last = self._scan(pending, out, check_overshoot=False, size=size)
            if last == -3:
                self._container.seek(0)
                last = self._scan(pending, out, check_overshoot=False, size=size)
        missing = [k for k in pending if k not in out]
        if not missing:
            return
        true_count = last + 1
        if true_count <= 0 or true_count > missing[0]:
            raise VideoError(self.path, f"could not decode frames {missing[:5]}")
        claimed = self.num_frames
        self.num_frames = true_count
        raise ShortVideoError(self.path, claimed, true_count)

    def frames(
        self, indices: Sequence[int], size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """The frames at ``indices``, at ``size=(H, W)`` if given (converted and resized in
        one swscale pass), else at the video's own size."""
        if self._container is None:
            raise VideoError(self.path, "video was closed")
        idx = _check_indices(self.path, indices, self.num_frames)
        if size is not None and (len(size) != 2 or min(int(v) for v in size) < 1):
            raise ValueError(f"{self.path}: size must be (height, width) >= 1; got {size}")
        uniq = np.unique(idx)
        runs = np.split(uniq, np.nonzero(np.diff(uniq) > self.seek_gap)[0] + 1)
        out: dict[int, np.ndarray] = {}
        for run in runs:
            self._decode_run(run, out, size)
        return np.stack([out[int(k)] for k in idx])

    def close(self) -> None:
        if getattr(self, "_container", None) is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> AVVideo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing useful to do
            pass

    def __repr__(self) -> str:
        return f"AVVideo({self.path!r}, frames={self.num_frames}, fps={self.fps:.3f})"


def open_video(
    path: str | os.PathLike[str], frame_pattern: str = "", threads: bool = False
) -> Video:
    """Open a video file (PyAV) or a frame folder (a directory of numbered images)."""
    p = str(path)
    if os.path.isdir(p):
        return FrameFolderVideo(p, frame_pattern)
    if not os.path.exists(p):
        raise VideoError(p, "not found")
    return AVVideo(p, threads=threads)
