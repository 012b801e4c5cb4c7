"""UCF101 as released: class folders, ``classInd.txt`` and numbered train/test lists."""

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


def ucf101_source(data_cfg: Any, split: str) -> VideoSource:
    """UCF101: ``root/<Class>/v_*.avi`` (or frame folders), split files in ``split_dir``
    (default ``root/ucfTrainTestlist``): ``classInd.txt`` (1-based ``index name``),
    ``trainlist0N.txt`` (``Class/v_x.avi index``), ``testlist0N.txt`` (``Class/v_x.avi``)."""
    root = data_root(data_cfg)
    sdir = split_dir(data_cfg, root, "ucfTrainTestlist")
    ind = sdir / "classInd.txt"
    by_number: dict[int, str] = {}
    for no, line in split_lines(ind):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitFileError(ind, no, f"expected '<number> <ClassName>', got {line!r}")
        k = int(parts[0])
        if k in by_number or parts[1] in by_number.values():
            raise SplitFileError(ind, no, f"class {parts[1]!r} / number {k} listed twice")
        by_number[k] = parts[1]
    numbers = sorted(by_number)
    if numbers != list(range(1, len(numbers) + 1)):
        raise SplitFileError(ind, 1, f"class numbers must run 1..K; got {numbers[:5]}...")
    classes = [by_number[k] for k in numbers]
    label_of = {c: i for i, c in enumerate(classes)}
    records = []
    parts_ = (("train", "trainlist"), ("test", "testlist"))
    for which, stem in parts_:
        if split not in (which, "all"):
            continue
        file = sdir / f"{stem}{data_cfg.split:02d}.txt"
        for no, line in split_lines(file):
            fields = line.split()
            rel = fields[0]
            cls = rel.replace("\\", "/").split("/")[0]
            if cls not in label_of:
                raise SplitFileError(file, no, f"class {cls!r} is not in {ind.name}")
            label = label_of[cls]
            if len(fields) > 2 or (len(fields) == 2 and not fields[1].isdigit()):
                raise SplitFileError(file, no, f"expected 'Class/video.avi [number]', got {line!r}")
            if len(fields) == 2 and int(fields[1]) - 1 != label:
                raise SplitFileError(
                    file, no, f"label {fields[1]} disagrees with folder {cls!r} ({label + 1})"
                )
            path = resolve_video(root, rel, data_cfg.frame_pattern)
            if path is None:
                raise SplitFileError(file, no, f"video {rel!r} not found under {root}")
            records.append(VideoRecord(str(path), label))
    return VideoSource(records, classes, data_cfg.frame_pattern, name=f"ucf101/{split}")
