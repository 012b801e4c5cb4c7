"""``vidssl prepare``: a config whose data live in memory, or that names no root, is refused in
one line before anything is read."""

from __future__ import annotations

from vidssl.cli import main


def test_in_memory_and_rootless_data_are_refused(tmp_path, capsys) -> None:
    assert main(["prepare", "--config", "configs/demo.yaml"]) == 2
    assert "the synthetic data set lives in memory and needs no preparing" in (
        capsys.readouterr().err)
    assert main(["prepare", "--config", "configs/demo.yaml", "data.dataset=folder"]) == 2
    assert "data.root is not set" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path)]) == 2
    assert "give SRC and DST" in capsys.readouterr().err
