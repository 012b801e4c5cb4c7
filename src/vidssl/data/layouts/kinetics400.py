"""Kinetics-400 as downloaded (DeepMind, CVDF mirror or ActivityNet crawler layouts)."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidssl.data.layouts.files import SplitFileError, data_root
from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.video import is_frame_folder

log = logging.getLogger("vidssl.data")


_K400_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
# annotation file names, by part, in the order tried: the DeepMind release's (train.csv,
# validate.csv), the CVDF mirror's (val.csv), and the ActivityNet crawler's
# (kinetics-400_train.csv, kinetics-400_val.csv); "validate" and "val" with either prefix
_K400_PREFIXES = ("", "kinetics-400_", "kinetics_400_", "kinetics400_")
_K400_CSV = {
    "train": [f"{p}train.csv" for p in _K400_PREFIXES],
    "val": [f"{p}{n}.csv" for p in _K400_PREFIXES for n in ("validate", "val")],
}
# video folders of a part, in the order tried ("" = the root itself)
_K400_SUBSETS = {"train": ("train", ""), "val": ("val", "validate", "")}
_K400_EXTENSIONS = (".mp4", ".webm", ".mkv", "")  # "" = a frame folder of that name


def _read_kinetics_csv(file: Path) -> list[tuple[int, dict[str, str]]]:
    if not file.is_file():
        raise FileNotFoundError(f"Kinetics annotation file not found: {file}")
    with file.open(newline="", encoding="utf-8") as fh:
        try:
            reader = csv.DictReader(fh)
            missing = [c for c in _K400_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise SplitFileError(file, 1, f"header lacks column(s) {', '.join(missing)}")
            return [(no, row) for no, row in enumerate(reader, 2)]
        except UnicodeDecodeError:
            raise SplitFileError(file, 1, "not UTF-8 text (an annotation file is a CSV text "
                                 "file)") from None


def _kinetics_csv(sdirs: list[Path], part: str) -> Path:
    """The first annotation file of ``part`` found in ``sdirs`` (else the first name tried,
    so the error names the file a user most likely expects)."""
    for d in sdirs:
        for name in _K400_CSV[part]:
            if (d / name).is_file():
                return d / name
    return sdirs[0] / _K400_CSV[part][0]


class _Listing:
    """What a folder holds (name -> file or folder), read once per folder: a Kinetics split
    lists ~240k videos, and one ``stat`` per candidate path and layout, or per video found,
    would cost minutes on network file systems. ``os.scandir`` gives each entry's type with
    the listing (``d_type``), so only symbolic links (and file systems without ``d_type``)
    cost a ``stat`` of their own."""

    def __init__(self) -> None:
        self._entries: dict[Path, dict[str, os.DirEntry[str]]] = {}

    def _entry(self, folder: Path, name: str) -> os.DirEntry[str] | None:
        if folder not in self._entries:
            try:
                with os.scandir(folder) as it:
                    self._entries[folder] = {e.name: e for e in it}
            except OSError:  # absent (or not a folder): nothing in it
                self._entries[folder] = {}
        return self._entries[folder].get(name)

    def is_file(self, folder: Path, name: str) -> bool:
        entry = self._entry(folder, name)
        return entry is not None and _entry_is(entry.is_file)

    def is_dir(self, folder: Path, name: str) -> bool:
        entry = self._entry(folder, name)
        return entry is not None and _entry_is(entry.is_dir)


def _entry_is(test: Any) -> bool:
    """``DirEntry.is_file`` / ``is_dir``; a link that cannot be followed is neither."""
    try:
        return bool(test())
    except OSError:
        return False


def kinetics400_source(data_cfg: Any, split: str) -> VideoSource:
    """Kinetics-400 as downloaded. Annotations (``label,youtube_id,time_start,time_end[,split,
    is_cc]``; extra columns are ignored) in ``split_dir`` (default: root, else
    ``root/annotations``): ``train.csv`` / ``validate.csv`` (DeepMind), ``val.csv`` (CVDF
    mirror) or ``kinetics-400_train.csv`` / ``kinetics-400_val.csv`` (ActivityNet crawler).
    Videos ``<youtube_id>_<start:06d>_<end:06d>.mp4`` (or .webm/.mkv, or a frame folder of that
    name), looked for per class, ``root[/<subset>]/<label>/`` (``<label>`` with spaces or
    underscores), then flat, ``root[/<subset>]/``, where ``<subset>`` is ``train`` for the
    training part and ``val`` or ``validate`` for the validation part.

    Unlike UCF101/HMDB51, a listed video that is absent is skipped with one summary warning:
    every Kinetics copy lacks some videos that left YouTube. "test" reads the validation part
    (the release's test labels were never published).
    """
    root = data_root(data_cfg)
    if data_cfg.split_dir:
        sdirs = [Path(data_cfg.split_dir).expanduser()]
    else:
        sdirs = [root, root / "annotations"]
    train_csv = _kinetics_csv(sdirs, "train")
    val_csv = _kinetics_csv(sdirs, "val")
    subsets = {"train": [(train_csv, _K400_SUBSETS["train"])],
               "test": [(val_csv, _K400_SUBSETS["val"])]}
    subsets["all"] = subsets["train"] + subsets["test"]
    rows_by_file = {f: _read_kinetics_csv(f) for f, _ in subsets[split]}
    class_file = train_csv if train_csv.is_file() else next(iter(rows_by_file))
    class_rows = rows_by_file.get(class_file) or _read_kinetics_csv(class_file)
    classes = sorted({row["label"] for _, row in class_rows})
    label_of = {c: i for i, c in enumerate(classes)}
    listing = _Listing()
    records, missing = [], []
    for file, dirs in subsets[split]:
        for no, row in rows_by_file[file]:
            label = row["label"]
            if label not in label_of:
                raise SplitFileError(file, no, f"class {label!r} is not in {class_file.name}")
            try:
                start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            except ValueError as exc:
                raise SplitFileError(file, no, f"bad time_start/time_end: {exc}") from exc
            stem = f"{row['youtube_id']}_{start:06d}_{end:06d}"
            path = _find_kinetics_video(root, dirs, label, stem, listing, data_cfg.frame_pattern)
            if path is None:
                missing.append(f"{file.name}:{no} {label}/{stem}")
                continue
            records.append(VideoRecord(str(path), label_of[label]))
    if missing:
        log.warning(
            "kinetics400: %d listed video(s) not found under %s and skipped (first: %s)",
            len(missing),
            root,
            missing[0],
        )
    src = VideoSource(records, classes, data_cfg.frame_pattern, name=f"kinetics400/{split}")
    src.missing = missing
    return src


def _find_kinetics_video(root: Path, subsets: Sequence[str], label: str, stem: str,
                         listing: _Listing, frame_pattern: str) -> Path | None:
    """``stem`` in the per-class folders of ``subsets``, then in the flat ones; None if absent."""
    labels = dict.fromkeys((label, label.replace(" ", "_")))
    folders = [root / sub / lab if sub else root / lab for sub in subsets for lab in labels]
    folders += [root / sub if sub else root for sub in subsets]
    for folder in folders:
        for ext in _K400_EXTENSIONS:
            if ext and listing.is_file(folder, stem + ext):
                return folder / (stem + ext)
            if not ext and listing.is_dir(folder, stem) and is_frame_folder(folder / stem,
                                                                           frame_pattern):
                return folder / stem
    return None
