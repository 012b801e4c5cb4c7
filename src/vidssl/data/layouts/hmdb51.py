"""HMDB51 as released: class folders and one 0/1/2 split file per class."""

from __future__ import annotations

from typing import Any

from vidssl.data.layouts.files import (
    SplitFileError,
    data_root,
    resolve_video,
    split_dir,
    split_lines,
)
from vidssl.data.records import VideoRecord, VideoSource


def hmdb51_source(data_cfg: Any, split: str) -> VideoSource:
    """HMDB51: ``root/<class>/<video>.avi``; ``split_dir`` (default
    ``root/testTrainMulti_7030_splits``) holds ``<class>_test_split<N>.txt`` with lines
    ``<video>.avi <code>``: 1 = train, 2 = test, 0 = unused.

    Records come in label order (classes sorted by name, each file's lines in file order), not
    in the order of the split file names: ``sword_exercise_test_split1.txt`` sorts before
    ``sword_test_split1.txt`` while the class ``sword`` sorts before ``sword_exercise``."""
    root = data_root(data_cfg)
    sdir = split_dir(data_cfg, root, "testTrainMulti_7030_splits")
    suffix = f"_test_split{data_cfg.split}.txt"
    file_of = {f.name[: -len(suffix)]: f for f in sdir.glob(f"*{suffix}")}
    if not file_of:
        raise FileNotFoundError(f"no HMDB51 split files *{suffix} in {sdir}")
    classes = sorted(file_of)
    wanted = {"train": {1}, "test": {2}, "all": {1, 2}}[split]
    records = []
    for label, cls in enumerate(classes):
        file = file_of[cls]
        if not (root / cls).is_dir():
            raise SplitFileError(file, 1, f"class folder {root / cls} does not exist")
        for no, line in split_lines(file):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise SplitFileError(file, no, f"expected '<video>.avi 0|1|2', got {line!r}")
            if int(fields[1]) not in wanted:
                continue
            path = resolve_video(root / cls, fields[0], data_cfg.frame_pattern)
            if path is None:
                raise SplitFileError(file, no, f"video {cls}/{fields[0]} not found under {root}")
            records.append(VideoRecord(str(path), label))
    return VideoSource(records, classes, data_cfg.frame_pattern, name=f"hmdb51/{split}")
