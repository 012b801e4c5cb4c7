"""``vidssl compare`` on the command line: a malformed file is one line naming it and exit
code 2, --table-only with nothing finished says so, and the options reach the rows."""

from __future__ import annotations

import yaml
from helpers import write_compare_spec

from vidssl.cli import main


def test_a_malformed_file_is_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": "x.yaml", "methods": [{"name": "a"}]}))
    assert main(["compare", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vidssl compare: ") and "out_dir" in err[0]


def test_table_only_with_nothing_finished(tmp_path, capsys) -> None:
    path = write_compare_spec(tmp_path, ["retrieval"])
    assert main(["compare", "--config", str(path), "--table-only", "--no-progress"]) == 1
    assert "no finished methods to tabulate" in capsys.readouterr().err


def test_bad_seeds_on_the_command_line(tmp_path, capsys) -> None:
    path = write_compare_spec(tmp_path, ["retrieval"])
    assert main(["compare", "--config", str(path), "--seeds", "0,x"]) == 2
    assert "--seeds" in capsys.readouterr().err
