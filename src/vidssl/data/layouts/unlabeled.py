"""Every video under a folder, without labels (pretraining needs none)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from vidssl.data.layouts.files import data_root, is_video_file
from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.video import is_frame_folder

log = logging.getLogger("vidssl.data")


def unlabeled_source(data_cfg: Any, split: str) -> VideoSource:
    """Every video file and frame folder under ``root`` (recursively), label -1: the same
    videos for every split (pretraining needs no split)."""
    root = data_root(data_cfg)
    fp = data_cfg.frame_pattern
    records = []

    def unreadable(exc: OSError) -> None:  # os.walk would leave such a folder out silently
        log.warning("data.root: cannot read %s (%s); the videos in it are left out",
                    exc.filename, exc.strerror)

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        dirnames.sort()
        here = Path(dirpath)
        if here != root and is_frame_folder(here, fp):
            records.append(VideoRecord(str(here)))
            dirnames.clear()
            continue
        records += [
            VideoRecord(str(here / f)) for f in sorted(filenames) if is_video_file(here / f)
        ]
    if not records:
        raise FileNotFoundError(f"no video files or frame folders under {root}")
    return VideoSource(records, [], fp, name=f"unlabeled/{split}")
