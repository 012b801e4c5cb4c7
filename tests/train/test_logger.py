"""The metrics CSV: one row per epoch, columns grow as metrics appear, and a resume drops the
rows after the epoch it continues from."""

from __future__ import annotations

from vidssl.train.logger import MetricsLogger


def test_rows_grow_columns_and_truncate_on_resume(tmp_path) -> None:
    log = MetricsLogger(tmp_path, name="m", tensorboard=False)
    log.log({"epoch": 1, "loss": 2.0})
    log.log({"epoch": 2, "loss": 1.5, "val_acc": 0.25})
    rows = log.rows()
    assert [r["epoch"] for r in rows] == ["1.0", "2.0"]
    assert rows[0]["val_acc"] == "" and rows[1]["val_acc"] == "0.25"
    log.truncate_after(1)
    assert [r["loss"] for r in MetricsLogger(tmp_path, "m", False).rows()] == ["2.0"]


def test_a_disabled_logger_writes_nothing(tmp_path) -> None:
    log = MetricsLogger(tmp_path / "rank1", tensorboard=False, enabled=False)
    log.log({"epoch": 1, "loss": 1.0})
    log.truncate_after(0)
    assert not (tmp_path / "rank1").exists()
