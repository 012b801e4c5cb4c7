"""SkipLog: counts shared across processes, one warning per video, stale folders removed."""

from __future__ import annotations

import logging
import os
import pickle

from vidssl.data.skip_log import SKIPLOG_PREFIX, SkipLog, remove_stale_skip_logs


def test_counts_summary_and_one_warning_per_video(tmp_path, caplog):
    log = SkipLog(tmp_path / "log")
    copy = pickle.loads(pickle.dumps(log))  # what a DataLoader worker holds
    with caplog.at_level(logging.WARNING, logger="vidssl.data"):
        log.skipped("/v/a.mp4", "a.mp4: no video stream")
        copy.skipped("/v/a.mp4", "a.mp4: no video stream")
        copy.short("/v/b.mp4", 10, 16)
    assert len([r for r in caplog.records if "skipping" in r.message]) == 1
    assert log.counts() == {"skipped": 2, "skipped_videos": 1, "short": 1, "short_videos": 1}
    assert log.summary().splitlines() == [
        "1 video(s) skipped as unreadable:",
        "  a.mp4: no video stream",
        "1 clip(s) from 1 video(s) shorter than the clip were looped or padded",
    ]
    assert SkipLog(tmp_path / "empty").summary() == ""


def test_temporary_folder_removed_with_its_owner_and_when_stale(tmp_path):
    log = SkipLog()
    folder = log.directory
    assert os.path.basename(folder).startswith(f"{SKIPLOG_PREFIX}{os.getpid()}-")
    del log
    assert not os.path.exists(folder)
    dead = tmp_path / f"{SKIPLOG_PREFIX}999999-x"
    dead.mkdir()
    assert remove_stale_skip_logs(str(tmp_path)) == [str(dead)]


def test_stale_folders_are_swept_once_per_process(tmp_path, monkeypatch):
    """The first temporary SkipLog of a process removes dead runs' folders; later ones do not
    list the temp dir again (a compare makes dozens of data sets)."""
    import tempfile

    from vidssl.data import skip_log

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(skip_log, "_swept", False)
    first_dead = tmp_path / f"{SKIPLOG_PREFIX}999999-a"
    first_dead.mkdir()
    first = SkipLog()
    assert not first_dead.exists()
    later_dead = tmp_path / f"{SKIPLOG_PREFIX}999999-b"
    later_dead.mkdir()
    calls = []
    monkeypatch.setattr(skip_log, "remove_stale_skip_logs", lambda *a: calls.append(a))
    second = SkipLog()
    assert calls == [] and later_dead.exists()
    assert {first.directory, second.directory} <= {str(p) for p in tmp_path.iterdir()}
