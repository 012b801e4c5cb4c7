"""``vidssl demo`` on the command line: a method's config mistake is one line before the data
are generated (the whole demo end to end: tests/test_demo.py)."""

from __future__ import annotations

from vidssl.cli import main


def test_a_bad_method_fails_before_any_work(tmp_path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path / "d"), "method=byol"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown method 'byol'" in err[0]
    assert not (tmp_path / "d").exists()
