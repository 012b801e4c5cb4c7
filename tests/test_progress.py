"""Progress output: a redrawing bar on a terminal, a few whole lines in a log file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidssl import progress as progress_mod
from vidssl.progress import LogLineBar, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_file_gets_a_line_every_few_percent_and_no_carriage_returns() -> None:
    log = io.StringIO()
    bar = progress(range(1000), desc="work", file=log)
    bar.mininterval = 0  # every item reaches display(), as in a slow loop
    for _ in bar:
        pass
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # the first line and one per 5 % step: not one per item
    assert len(lines) == 100 // progress_mod.LOG_PERCENT + 1
    assert lines[-1].startswith("work: 100%") and "1000/1000" in lines[-1]


def test_update_total_and_postfix_in_log_mode() -> None:
    log = io.StringIO()
    with progress(total=40, desc="train", unit="step", file=log) as bar:
        for _ in range(40):
            bar.update(1)
            bar.set_postfix({"loss": "1.0"}, refresh=False)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) <= 22
    assert "40/40" in lines[-1]


def test_a_slow_stage_still_writes_a_line_every_few_seconds(monkeypatch) -> None:
    monkeypatch.setattr(progress_mod, "LOG_SECONDS", 0.0)
    log = io.StringIO()
    with progress(desc="unknown total", file=log) as bar:  # no total: time decides alone
        bar.mininterval = 0  # tqdm's own 0.1 s throttle would hide the time rule
        for _ in range(5):
            bar.update(1)
    # the first line, then one per update (each is LOG_SECONDS = 0 after the last); with the
    # time rule gone only the first and the final line would be written
    lines = log.getvalue().splitlines()
    assert len(lines) == 6 and "5it" in lines[-1]


def test_terminal_keeps_the_redrawing_bar_and_disable_is_silent() -> None:
    term = _Terminal()
    bar = progress(total=3, file=term)
    assert not isinstance(bar, LogLineBar)
    bar.close()
    quiet = io.StringIO()
    for _ in progress(range(50), disable=True, file=quiet):
        pass
    assert quiet.getvalue() == ""


@pytest.mark.slow
def test_a_command_redirected_to_a_file_writes_lines(tmp_path: Path) -> None:
    log = tmp_path / "synth.log"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with log.open("w") as fh:
        subprocess.run([sys.executable, "-m", "vidssl", "synth", "--out", str(tmp_path / "d"),
                        "--train-per-class", "3", "--test-per-class", "1", "--min-frames", "8",
                        "--max-frames", "8", "--size", "16"],
                       stdout=fh, stderr=subprocess.STDOUT, check=True, env=env)
    text = log.read_text()
    assert "\r" not in text
    bar_lines = [ln for ln in text.splitlines() if ln.startswith("synth:")]
    assert 2 <= len(bar_lines) <= 22
    assert "50/50" in bar_lines[-1]  # 10 classes x (3 train + 1 test + 1 val)
