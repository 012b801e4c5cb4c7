"""Metrics logging to a CSV file and TensorBoard, written as we go so a killed run keeps its logs.

The CSV is the source of truth for plots (``vidssl.eval.plots``); TensorBoard is for watching a
run live. On resume the CSV is appended to, and rows of epochs past the resume point are dropped
first so the log of a resumed run reads like an uninterrupted one.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Append-only CSV of per-epoch rows (columns grow as new metrics appear) + TensorBoard."""

    def __init__(self, out_dir: str | Path, name: str = "metrics", tensorboard: bool = True,
                 enabled: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / f"{name}.csv"
        self.enabled = enabled
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.out_dir / "tensorboard"))
            except ImportError:  # tensorboard is a dependency, but logging must never crash a run
                self._tb = None

    def rows(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with self.path.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def truncate_after(self, epoch: int) -> None:
        """Drop rows with ``epoch`` > the given one (used when resuming)."""
        if not self.enabled:
            return
        rows = [r for r in self.rows() if int(float(r.get("epoch", 0))) <= epoch]
        self._write(rows)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fields: list[str] = []
        for r in rows:
            fields.extend(k for k in r if k not in fields)
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
        tmp.replace(self.path)

    def log(self, row: dict[str, Any], step: int | None = None) -> None:
        """Append one row (e.g. one epoch) to the CSV and each scalar to TensorBoard."""
        if not self.enabled:
            return
        clean = {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                 for k, v in row.items()}
        self._write(self.rows() + [clean])
        if self._tb is not None:
            x = step if step is not None else int(row.get("epoch", 0))
            for k, v in clean.items():
                if k != "epoch" and isinstance(v, float) and math.isfinite(v):
                    self._tb.add_scalar(k, v, x)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
