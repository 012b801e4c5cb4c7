"""What the layouts share: the data root, split-file lines, finding a listed video on disk.

A split file line that names a class or a video that does not exist raises
:class:`SplitFileError` with the file and line, when the source is built (not when the video is
first read, hours into a run).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vidssl.data.video import VIDEO_EXTENSIONS, is_frame_folder
from vidssl.errors import ConfigError


class SplitFileError(ConfigError):
    """A split file line names a class or a video that does not exist, or is malformed."""

    def __init__(self, file: str | os.PathLike[str], line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = str(file)
        self.line = line


def is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def resolve_video(root: Path, rel: str, frame_pattern: str) -> Path | None:
    """``root/rel`` if it exists; else the frame folder ``root/rel`` minus its extension
    (mmaction2's rawframes keep the video names without ``.avi``); else None."""
    p = root / rel
    if p.is_file() or is_frame_folder(p, frame_pattern):
        return p
    stem = p.with_suffix("") if p.suffix else p
    if stem != p and is_frame_folder(stem, frame_pattern):
        return stem
    return None


def split_lines(file: Path) -> list[tuple[int, str]]:
    """Non-empty lines of a split file with their 1-based numbers."""
    if not file.is_file():
        raise FileNotFoundError(f"split file not found: {file}")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the split file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SplitFileError(file, line, "not UTF-8 text (a split list is a text file)"
                             ) from None
    return [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]


def videos_in(folder: Path, frame_pattern: str) -> list[Path]:
    """Videos directly inside ``folder``: video files and frame folders, sorted by name."""
    out = []
    for p in sorted(folder.iterdir()):
        if is_video_file(p) or (p.is_dir() and is_frame_folder(p, frame_pattern)):
            out.append(p)
    return out


def data_root(data_cfg: Any) -> Path:
    if not data_cfg.root:
        raise ConfigError(f"data.root must be set for data.dataset={data_cfg.dataset}")
    root = Path(data_cfg.root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data.root not found: {root}")
    return root


def split_dir(data_cfg: Any, root: Path, default: str) -> Path:
    if data_cfg.split_dir:
        return Path(data_cfg.split_dir).expanduser()
    return root / default if (root / default).is_dir() else root
