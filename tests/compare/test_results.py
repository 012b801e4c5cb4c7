"""The results document that ``vidssl compare --results`` keeps: one section per comparison,
replaced on rerun, everything else kept."""

from __future__ import annotations

from pathlib import Path

from vidssl.compare.results import machine_description, update_results


def _table(title: str, value: str) -> str:
    return (f"## {title}\n\n### Test split\n\n| method | retr. top-1 |\n|---|---:|\n"
            f"| a | {value} |\n")


def test_sections_are_replaced_and_the_rest_is_kept(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "RESULTS.md"
    png = tmp_path / "compare.png"
    png.write_bytes(b"\x89PNG fake")
    update_results(doc, "ladder", "vidssl compare --config l.yaml", _table("Ladder", "40.0"), png,
                   machine="CPU X, 2 cores, no GPU", date="2026-11-27")
    update_results(doc, "methods", "vidssl compare --config m.yaml", _table("Methods", "50.0"),
                   None, machine="CPU X, 2 cores, no GPU", date="2026-11-27")
    text = doc.read_text()
    assert text.startswith("# Results")
    assert (doc.parent / "results" / "ladder.png").read_bytes() == b"\x89PNG fake"
    assert "![ladder (test, mean and 95% interval)](results/ladder.png)" in text
    assert "`vidssl compare --config l.yaml` on CPU X, 2 cores, no GPU, 2026-11-27." in text
    # a person's discussion between the sections survives a rerun
    doc.write_text(text.replace("<!-- compare: methods -->",
                                "What the ladder shows: a sentence.\n\n<!-- compare: methods -->"))
    update_results(doc, "ladder", "vidssl compare --config l.yaml", _table("Ladder", "45.0"), png,
                   machine="CPU X, 2 cores, no GPU", date="2026-11-28")
    text = doc.read_text()
    assert "| a | 45.0 |" in text and "| a | 40.0 |" not in text
    assert "| a | 50.0 |" in text  # the other comparison is untouched
    assert "What the ladder shows: a sentence." in text
    assert text.index("## Ladder") < text.index("What the ladder") < text.index("## Methods")
    assert text.count("<!-- compare: ladder -->") == 1


def test_machine_description_names_cores_and_torch() -> None:
    line = machine_description()
    assert "cores" in line and "torch" in line


def test_broken_markers_and_unwritable_files_are_one_line_errors(tmp_path: Path) -> None:
    import pytest

    from vidssl.errors import UserError

    doc = tmp_path / "RESULTS.md"
    update_results(doc, "ladder", "cmd", _table("Ladder", "40.0"), None, machine="m", date="d")
    # someone deleted the end marker: replacing would swallow what follows, so refuse
    doc.write_text(doc.read_text().replace("<!-- /compare: ladder -->", "") + "\nnotes\n")
    with pytest.raises(UserError, match="markers of section 'ladder' are broken"):
        update_results(doc, "ladder", "cmd", _table("Ladder", "41.0"), None, machine="m",
                       date="d")
    assert "notes" in doc.read_text()
    with pytest.raises(UserError, match="cannot"):
        update_results(tmp_path, "ladder", "cmd", _table("Ladder", "41.0"), None,
                       machine="m", date="d")  # a folder, not a file
