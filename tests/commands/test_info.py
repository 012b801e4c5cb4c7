"""``vidssl info`` prints the backbone's size and the heads' parameters."""

from __future__ import annotations

import json

from vidssl.cli import main


def test_info_json_quarter_width(capsys) -> None:
    rc = main(["info", "--backbone", "r3d", "--width", "0.25", "--size", "32", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["feature_dim"] == 128
    assert out["feature_map"] == [128, 2, 2, 2]
    assert out["proj_dim"] == 129  # multiple of n = 3 nearest 128
    assert out["heads"]["order"] == 128 * 512 + 512 + 512 * 6 + 6
    assert out["heads"]["rate"] == 128 * 3 + 3
    assert out["macs"] > 0 and out["params"] > 0


def test_info_text_and_bad_name(capsys) -> None:
    assert main(["info", "--backbone", "c3d", "--segments", "4", "--proj-dim", "128"]) == 0
    text = capsys.readouterr().out
    assert "27.66M" in text and "-> 24" in text
    assert main(["info", "--backbone", "nope"]) == 2
    assert "unknown backbone" in capsys.readouterr().err
