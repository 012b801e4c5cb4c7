"""Pictures from results: CSV logs read back as numbers (blank cells NaN), training curves and
bar charts written as PNG files."""

from __future__ import annotations

import math

from vidssl.eval.plots import plot_bars, plot_curves, read_csv_log

PNG = b"\x89PNG\r\n\x1a\n"


def test_curves_and_bars_from_a_log(tmp_path) -> None:
    log = tmp_path / "metrics.csv"
    log.write_text("epoch,loss,val_acc,note\n1,2.0,,a\n2,1.5,0.25,b\n")
    cols = read_csv_log(log)
    assert set(cols) == {"epoch", "loss", "val_acc"}  # a text column is left out
    assert cols["loss"].tolist() == [2.0, 1.5] and math.isnan(cols["val_acc"][0])
    png = plot_curves({"run": log}, tmp_path / "c.png")
    assert png.read_bytes()[:8] == PNG
    bars = plot_bars({"a": {"acc": 0.5}, "b": {"acc": 0.7}}, tmp_path / "b.png",
                     errors={"a": {"acc": 0.1}})
    assert bars.read_bytes()[:8] == PNG
