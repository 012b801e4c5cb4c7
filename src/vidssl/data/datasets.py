"""Video sources (which videos, which labels) and the torch Datasets built on them.

A :class:`VideoSource` is the list of a split's videos with 0-based labels (``classInd.txt``
order for UCF101, sorted class names otherwise; -1 when unlabeled). Split files are checked when
the source is built: a line naming a class or a video that does not exist raises
:class:`SplitFileError` with the file and line. Videos that exist but fail to decode are found
only when read; the datasets then skip them (see :class:`SkipLog`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vidssl.config import ConfigError
from vidssl.data.sampling import PretextSampler, random_clip_indices, uniform_clip_indices
from vidssl.data.transforms import ClipTransform
from vidssl.data.video import (
    VIDEO_EXTENSIONS,
    ShortVideoError,
    Video,
    VideoError,
    is_frame_folder,
    open_video,
)

log = logging.getLogger("vidssl.data")


@dataclass(frozen=True)
class VideoRecord:
    """One video of a data set: a file, a frame folder or an in-memory name; label 0-based or -1."""

    path: str
    label: int = -1


@dataclass
class VideoSource:
    """A list of videos with labels, and how to open each one.

    Videos on disk are opened with :func:`open_video` (``frame_pattern`` for frame folders).
    In-memory data sets (the synthetic one) pass ``videos`` (one :class:`Video` per record) or
    an ``opener(record) -> Video`` callable instead; an opener must be picklable when the
    source is used with DataLoader workers (a module-level function or a dataclass instance).
    """

    records: list[VideoRecord]
    classes: list[str] = field(default_factory=list)
    frame_pattern: str = ""
    videos: Sequence[Video] | None = None
    opener: Callable[[VideoRecord], Video] | None = None
    name: str = ""
    missing: list[str] = field(default_factory=list)  # listed but absent (Kinetics only)

    def __post_init__(self) -> None:
        if self.videos is not None and len(self.videos) != len(self.records):
            raise ValueError(
                f"VideoSource: {len(self.videos)} videos for {len(self.records)} records"
            )

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    def open(self, i: int) -> Video:
        """The ``i``-th video; raises ``VideoError`` when it is missing or unreadable."""
        if self.videos is not None:
            return self.videos[i]
        rec = self.records[i]
        if self.opener is not None:
            return self.opener(rec)
        return open_video(rec.path, self.frame_pattern)


# --------------------------------------------------------------------------------------------
# Split files and folder layouts
# --------------------------------------------------------------------------------------------


class SplitFileError(ConfigError):
    """A split file line names a class or a video that does not exist, or is malformed."""

    def __init__(self, file: str | os.PathLike[str], line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = str(file)
        self.line = line


def _is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def _resolve(root: Path, rel: str, frame_pattern: str) -> Path | None:
    """``root/rel`` if it exists; else the frame folder ``root/rel`` minus its extension
    (mmaction2's rawframes keep the video names without ``.avi``); else None."""
    p = root / rel
    if p.is_file() or is_frame_folder(p, frame_pattern):
        return p
    stem = p.with_suffix("") if p.suffix else p
    if stem != p and is_frame_folder(stem, frame_pattern):
        return stem
    return None


def _lines(file: Path) -> list[tuple[int, str]]:
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


def _items(folder: Path, frame_pattern: str) -> list[Path]:
    """Videos directly inside ``folder``: video files and frame folders, sorted by name."""
    out = []
    for p in sorted(folder.iterdir()):
        if _is_video_file(p) or (p.is_dir() and is_frame_folder(p, frame_pattern)):
            out.append(p)
    return out


def _root(data_cfg: Any) -> Path:
    if not data_cfg.root:
        raise ConfigError(f"data.root must be set for data.dataset={data_cfg.dataset}")
    root = Path(data_cfg.root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data.root not found: {root}")
    return root


def _split_dir(data_cfg: Any, root: Path, default: str) -> Path:
    if data_cfg.split_dir:
        return Path(data_cfg.split_dir).expanduser()
    return root / default if (root / default).is_dir() else root


def ucf101_source(data_cfg: Any, split: str) -> VideoSource:
    """UCF101: ``root/<Class>/v_*.avi`` (or frame folders), split files in ``split_dir``
    (default ``root/ucfTrainTestlist``): ``classInd.txt`` (1-based ``index name``),
    ``trainlist0N.txt`` (``Class/v_x.avi index``), ``testlist0N.txt`` (``Class/v_x.avi``)."""
    root = _root(data_cfg)
    sdir = _split_dir(data_cfg, root, "ucfTrainTestlist")
    ind = sdir / "classInd.txt"
    by_number: dict[int, str] = {}
    for no, line in _lines(ind):
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
        for no, line in _lines(file):
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
            path = _resolve(root, rel, data_cfg.frame_pattern)
            if path is None:
                raise SplitFileError(file, no, f"video {rel!r} not found under {root}")
            records.append(VideoRecord(str(path), label))
    return VideoSource(records, classes, data_cfg.frame_pattern, name=f"ucf101/{split}")


def hmdb51_source(data_cfg: Any, split: str) -> VideoSource:
    """HMDB51: ``root/<class>/<video>.avi``; ``split_dir`` (default
    ``root/testTrainMulti_7030_splits``) holds ``<class>_test_split<N>.txt`` with lines
    ``<video>.avi <code>``: 1 = train, 2 = test, 0 = unused.

    Records come in label order (classes sorted by name, each file's lines in file order), not
    in the order of the split file names: ``sword_exercise_test_split1.txt`` sorts before
    ``sword_test_split1.txt`` while the class ``sword`` sorts before ``sword_exercise``."""
    root = _root(data_cfg)
    sdir = _split_dir(data_cfg, root, "testTrainMulti_7030_splits")
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
        for no, line in _lines(file):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise SplitFileError(file, no, f"expected '<video>.avi 0|1|2', got {line!r}")
            if int(fields[1]) not in wanted:
                continue
            path = _resolve(root / cls, fields[0], data_cfg.frame_pattern)
            if path is None:
                raise SplitFileError(file, no, f"video {cls}/{fields[0]} not found under {root}")
            records.append(VideoRecord(str(path), label))
    return VideoSource(records, classes, data_cfg.frame_pattern, name=f"hmdb51/{split}")


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
    """Names in a folder, read once per folder: a Kinetics split lists ~240k videos, and one
    ``stat`` per candidate path and layout would cost minutes on network file systems."""

    def __init__(self) -> None:
        self._names: dict[Path, set[str]] = {}

    def has(self, folder: Path, name: str) -> bool:
        if folder not in self._names:
            try:
                self._names[folder] = set(os.listdir(folder))
            except OSError:  # absent (or not a folder): nothing in it
                self._names[folder] = set()
        return name in self._names[folder]


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
    root = _root(data_cfg)
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
            if listing.has(folder, stem + ext):
                cand = folder / (stem + ext)
                if cand.is_file() if ext else is_frame_folder(cand, frame_pattern):
                    return cand
    return None


def _list_path(root: Path, name: str) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else root / p


def folder_source(data_cfg: Any, split: str) -> VideoSource:
    """A folder per class: ``root/<class>/<video file or frame folder>``; labels follow sorted
    class names. ``data.train_list`` / ``data.test_list`` / ``data.val_list`` (paths relative
    to root) select the split with lines ``relative/path label`` (label = class name or 0-based
    number); without train and test lists every video belongs to those splits. A val split
    exists only where ``data.val_list`` names one (see :func:`has_split`)."""
    root = _root(data_cfg)
    fp = data_cfg.frame_pattern
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not is_frame_folder(p, fp))
    label_of = {c: i for i, c in enumerate(classes)}
    lists = {"train": data_cfg.train_list, "test": data_cfg.test_list,
             "val": data_cfg.val_list}
    chosen = [lists[s] for s in (("train", "test") if split == "all" else (split,)) if lists[s]]
    records = []
    if not chosen:
        for cls in classes:
            records += [VideoRecord(str(p), label_of[cls]) for p in _items(root / cls, fp)]
        return VideoSource(records, classes, fp, name=f"folder/{split}")
    for name in chosen:
        file = _list_path(root, name)
        for no, line in _lines(file):
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
            path = _resolve(root, rel, fp)
            if path is None:
                raise SplitFileError(file, no, f"video {rel!r} not found under {root}")
            records.append(VideoRecord(str(path), label))
    return VideoSource(records, classes, fp, name=f"folder/{split}")


def unlabeled_source(data_cfg: Any, split: str) -> VideoSource:
    """Every video file and frame folder under ``root`` (recursively), label -1: the same
    videos for every split (pretraining needs no split)."""
    root = _root(data_cfg)
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
            VideoRecord(str(here / f)) for f in sorted(filenames) if _is_video_file(here / f)
        ]
    if not records:
        raise FileNotFoundError(f"no video files or frame folders under {root}")
    return VideoSource(records, [], fp, name=f"unlabeled/{split}")


_BUILDERS: dict[str, Callable[[Any, str], VideoSource]] = {
    "ucf101": ucf101_source,
    "hmdb51": hmdb51_source,
    "kinetics400": kinetics400_source,
    "folder": folder_source,
    "unlabeled": unlabeled_source,
}


def has_split(data_cfg: Any, split: str) -> bool:
    """Whether the configured data set has ``split``. Every one has train and test; a val split
    (for model selection) is held by the synthetic data (unless ``val_per_class`` is 0) and by
    a folder data set with ``data.val_list``. The official UCF101/HMDB51/Kinetics splits have
    none: carve one from train with a folder list if you need it."""
    if split != "val":
        return split in ("train", "test", "all")
    if data_cfg.dataset == "synthetic":
        from vidssl.data.synthetic import per_class

        return per_class(data_cfg.synthetic, "val") > 0
    return data_cfg.dataset == "folder" and bool(data_cfg.val_list)


def build_source(data_cfg: Any, split: str = "train") -> VideoSource:
    """The videos of ``data_cfg.dataset`` for ``split`` ("train", "test", "val" or "all")."""
    if split not in ("train", "test", "val", "all"):
        raise ValueError(f"split must be train, test, val or all; got {split!r}")
    if not has_split(data_cfg, split):
        raise ConfigError(f"data.dataset={data_cfg.dataset} has no val split (synthetic: "
                          "data.synthetic.val_per_class > 0; folder: data.val_list)")
    if data_cfg.dataset == "synthetic":
        from vidssl.data.synthetic import synthetic_source

        return synthetic_source(data_cfg.synthetic, split)
    if data_cfg.dataset not in _BUILDERS:
        raise ConfigError(f"unknown data.dataset {data_cfg.dataset!r}")
    return _BUILDERS[data_cfg.dataset](data_cfg, split)


# --------------------------------------------------------------------------------------------
# Skipped and short videos, counted across DataLoader workers
# --------------------------------------------------------------------------------------------


class SkipLog:
    """Counts videos skipped (missing/undecodable) and clips drawn from too-short videos.

    DataLoader workers are separate processes, so counts live in a directory: each process
    appends one JSON line per event to its own file (``<pid>.jsonl``), and :meth:`summary`
    reads them all. The first process to skip a given video creates a marker file with
    ``O_EXCL`` and prints the one warning line for it; the others stay quiet. The object holds
    only the directory path, so it pickles into workers. Without ``directory`` a temporary one
    is made and removed when the creating process's SkipLog is garbage collected.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        if directory is None:
            remove_stale_skip_logs()
            # the owner's pid in the name tells a later run whether the folder is stale
            self.directory = tempfile.mkdtemp(prefix=f"{SKIPLOG_PREFIX}{os.getpid()}-")
            self._finalizer = weakref.finalize(
                self, _remove_dir_if_owner, self.directory, os.getpid()
            )
        else:
            self.directory = str(directory)
            os.makedirs(self.directory, exist_ok=True)

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.directory = state["directory"]

    def _append(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event) + "\n").encode()
        fd = os.open(
            os.path.join(self.directory, f"{os.getpid()}.jsonl"),
            os.O_WRONLY | os.O_APPEND | os.O_CREAT,
            0o644,
        )
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def skipped(self, path: str, reason: str) -> None:
        """A video could not be read: count it, and warn once per video over all workers."""
        self._append({"kind": "skipped", "path": path, "reason": reason})
        marker = os.path.join(
            self.directory, "warned-" + hashlib.sha1(path.encode()).hexdigest()[:16]
        )
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return
        log.warning("skipping unreadable video %s", reason)

    def short(self, path: str, num_frames: int, needed: int) -> None:
        """A clip looped or padded because the video has fewer frames than the clip needs."""
        self._append({"kind": "short", "path": path, "frames": num_frames, "needed": needed})

    def events(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(os.listdir(self.directory)):
            if name.endswith(".jsonl"):
                with open(os.path.join(self.directory, name), encoding="utf-8") as fh:
                    out += [json.loads(ln) for ln in fh if ln.strip()]
        return out

    def counts(self) -> dict[str, int]:
        """Events so far: ``skipped`` reads, distinct ``skipped_videos``, ``short`` clips."""
        ev = self.events()
        skipped = [e for e in ev if e["kind"] == "skipped"]
        return {
            "skipped": len(skipped),
            "skipped_videos": len({e["path"] for e in skipped}),
            "short": sum(1 for e in ev if e["kind"] == "short"),
            "short_videos": len({e["path"] for e in ev if e["kind"] == "short"}),
        }

    def summary(self) -> str:
        """A few lines for the end-of-epoch log: counts and the skipped videos ("" if none)."""
        ev = self.events()
        skipped: dict[str, str] = {}
        for e in ev:
            if e["kind"] == "skipped":
                skipped.setdefault(e["path"], e["reason"])
        short = [e for e in ev if e["kind"] == "short"]
        if not skipped and not short:
            return ""
        lines = []
        if skipped:
            lines.append(f"{len(skipped)} video(s) skipped as unreadable:")
            lines += [f"  {reason}" for reason in skipped.values()]
        if short:
            videos = {e["path"] for e in short}
            lines.append(
                f"{len(short)} clip(s) from {len(videos)} video(s) shorter than the clip "
                "were looped or padded"
            )
        return "\n".join(lines)

    def clear(self) -> None:
        """Forget all events (e.g. to count per epoch)."""
        for name in os.listdir(self.directory):
            os.remove(os.path.join(self.directory, name))


SKIPLOG_PREFIX = "vidssl-skiplog-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_skip_logs(tmp_dir: str | None = None) -> list[str]:
    """Delete the temporary SkipLog folders of processes that no longer run (a killed run
    cannot remove its own); return their paths. Folders of live processes are kept."""
    tmp_dir = tmp_dir or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(tmp_dir)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(SKIPLOG_PREFIX):
            continue
        pid = name[len(SKIPLOG_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(tmp_dir, name), ignore_errors=True)
            removed.append(os.path.join(tmp_dir, name))
    return removed


def _remove_dir_if_owner(directory: str, owner_pid: int) -> None:
    if os.getpid() == owner_pid:
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------

MAX_REPLACEMENTS = 20  # other videos tried before giving up on a sample
MAX_RESAMPLES = 3  # new clip draws after a video turned out shorter than its metadata


class _VideoDataset(Dataset):
    """Shared machinery: per-sample RNG, reading with skip-and-replace, ``set_epoch``."""

    transform: Callable[..., Any]  # set by every subclass: uint8 frames -> tensor clip

    def __init__(self, source: VideoSource, seed: int, skip_log: SkipLog | None) -> None:
        self.source = source
        self.seed = int(seed)
        self.epoch = 0
        self.skip_log = skip_log if skip_log is not None else SkipLog()
        self._bad: set[int] = set()  # per process: videos already known unreadable

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        """New random draws each epoch; effective in workers started after the call."""
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError

    def _frames(self, video: Video, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """The frames for ``self.transform``: at its resize size straight from the reader when
        it resizes on decode (``ClipTransform.decode_size``); any other callable gets the
        frames at the video's own size."""
        return video.frames(indices, size=getattr(self.transform, "decode_size", None))

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        i = int(index)
        for _ in range(MAX_REPLACEMENTS + 1):
            if len(self._bad) >= len(self.source):
                break  # every video is known unreadable: trying more would only repeat them
            if i not in self._bad:
                try:
                    video = self.source.open(i)
                    item = self._load_resampling(video, rng)
                    item["label"] = torch.tensor(self.source.records[i].label, dtype=torch.int64)
                    item["index"] = torch.tensor(i, dtype=torch.int64)
                    return item
                except VideoError as exc:
                    self._bad.add(i)
                    self.skip_log.skipped(self.source.records[i].path, str(exc))
            i = int(rng.integers(len(self.source)))
        from vidssl.errors import DataError

        name = self.source.name or "the data set"
        if len(self._bad) >= len(self.source):
            raise DataError(f"{name}: none of its {len(self.source)} video(s) could be read "
                            f"(first: {self.source.records[min(self._bad)].path})")
        raise DataError(
            f"{name}: {MAX_REPLACEMENTS + 1} videos in a row could not be read "
            f"({len(self._bad)} of {len(self.source)} unreadable so far; see the warnings above)"
        )

    def _load_resampling(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        for attempt in range(MAX_RESAMPLES + 1):
            try:
                return self._load(video, rng)
            except ShortVideoError:
                # num_frames is corrected by now: draw again for the true length.
                if attempt == MAX_RESAMPLES:
                    raise
        raise AssertionError("unreachable")


class PretextDataset(_VideoDataset):
    """Pretext clips: ``clip (3,T,H,W), order, rates (n,), key (3,T,H,W), label, index``.

    ``key`` (with ``with_key=True``) is a second pretext clip of the same video drawn
    independently (its own segments, rates, order and augmentation): the MoCo positive. Both
    clips are decoded in one pass over the video.
    """

    def __init__(
        self,
        source: VideoSource,
        sampler: PretextSampler,
        transform: ClipTransform,
        seed: int = 0,
        with_key: bool = True,
        skip_log: SkipLog | None = None,
    ) -> None:
        super().__init__(source, seed, skip_log)
        self.sampler = sampler
        self.transform = transform
        self.with_key = with_key

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        draws = [self.sampler.sample(video.num_frames, rng)]
        if self.with_key:
            draws.append(self.sampler.sample(video.num_frames, rng))
        for d in draws:
            if d.looped:
                self.skip_log.short(video.path, video.num_frames, self.sampler.clip_len)
        frames = self._frames(video, np.concatenate([d.indices for d in draws]))
        T = self.sampler.clip_len
        q = draws[0]
        item = {
            "clip": self.transform(frames[:T], rng),
            "order": torch.tensor(q.order, dtype=torch.int64),
            "rates": torch.from_numpy(q.rates.astype(np.float32)),
        }
        if self.with_key:
            item["key"] = self.transform(frames[T:], rng)
        return item


class ClipDataset(_VideoDataset):
    """One random clip of ``clip_len`` consecutive frames (``step`` apart) per video, for
    fine-tuning: ``clip (3,T,H,W), label, index``."""

    def __init__(
        self,
        source: VideoSource,
        transform: ClipTransform,
        clip_len: int = 16,
        step: int = 1,
        seed: int = 0,
        skip_log: SkipLog | None = None,
    ) -> None:
        super().__init__(source, seed, skip_log)
        self.transform = transform
        self.clip_len = clip_len
        self.step = step

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        needed = (self.clip_len - 1) * self.step + 1
        if video.num_frames < needed:
            self.skip_log.short(video.path, video.num_frames, needed)
        idx = random_clip_indices(video.num_frames, self.clip_len, self.step, rng)
        return {"clip": self.transform(self._frames(video, idx), rng)}


class MultiClipDataset(_VideoDataset):
    """``clips`` evaluation clips per video at the DESIGN 7 positions
    (:func:`uniform_clip_indices`): ``clips (N,3,T,H,W), label, index``.

    ``index`` is the video actually read: when a video is unreadable and replaced, it differs
    from the requested one, so evaluation can tell (and the SkipLog lists it).
    """

    def __init__(
        self,
        source: VideoSource,
        transform: ClipTransform,
        clips: int = 10,
        clip_len: int = 16,
        step: int = 1,
        skip_log: SkipLog | None = None,
    ) -> None:
        super().__init__(source, 0, skip_log)
        self.transform = transform
        self.clips = clips
        self.clip_len = clip_len
        self.step = step

    def _load(self, video: Video, rng: np.random.Generator) -> dict[str, Any]:
        needed = (self.clip_len - 1) * self.step + 1
        if video.num_frames < needed:
            self.skip_log.short(video.path, video.num_frames, needed)
        idx = uniform_clip_indices(video.num_frames, self.clip_len, self.step, self.clips)
        frames = self._frames(video, idx.reshape(-1))
        T = self.clip_len
        clips = [self.transform(frames[j * T : (j + 1) * T], rng) for j in range(self.clips)]
        return {"clips": torch.stack(clips)}
