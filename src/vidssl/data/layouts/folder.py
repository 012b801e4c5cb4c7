"""A folder per class, optionally with train/test/val list files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidssl.data.layouts.files import (
    SplitFileError,
    data_root,
    resolve_video,
    split_lines,
    videos_in,
)
from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.video import is_frame_folder


def _list_path(root: Path, name: str) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else root / p


def folder_source(data_cfg: Any, split: str) -> VideoSource:
    """A folder per class: ``root/<class>/<video file or frame folder>``; labels follow sorted
    class names. ``data.train_list`` / ``data.test_list`` / ``data.val_list`` (paths relative
    to root) select the split with lines ``relative/path label`` (label = class name or 0-based
    number); without train and test lists every video belongs to those splits. A val split
    exists only where ``data.val_list`` names one (see :func:`has_split`)."""
    root = data_root(data_cfg)
    fp = data_cfg.frame_pattern
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not is_frame_folder(p, fp))
    label_of = {c: i for i, c in enumerate(classes)}
    lists = {"train": data_cfg.train_list, "test": data_cfg.test_list,
             "val": data_cfg.val_list}
    chosen = [lists[s] for s in (("train", "test") if split == "all" else (split,)) if lists[s]]
    records = []
    if not chosen:
        for cls in classes:
            records += [VideoRecord(str(p), label_of[cls]) for p in videos_in(root / cls, fp)]
        return VideoSource(records, classes, fp, name=f"folder/{split}")
    for name in chosen:
        file = _list_path(root, name)
        for no, line in split_lines(file):
            fields = line.rsplit(None, 1)
            if len(fields) != 2:
                raise SplitFileError(file, no, f"expected 'relative/path label', got {line!r}")
            rel, lab = fields
            if lab in label_of:
                label = label_of[lab]
            elif lab.isdigit() and int(lab) < len(classes):
                label = int(lab)
            else:
                raise SplitFileError(file, no, f"label {lab!r} is not a class of {root}")
            path = resolve_video(root, rel, fp)
            if path is None:
                raise SplitFileError(file, no, f"video {rel!r} not found under {root}")
            records.append(VideoRecord(str(path), label))
    return VideoSource(records, classes, fp, name=f"folder/{split}")
