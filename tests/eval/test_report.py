"""The markdown report every evaluation command writes: what matters first, readable units."""

from __future__ import annotations

from pathlib import Path

from helpers import starts_with_markdown_table

from vidssl.eval.report import format_seconds, format_value, write_report


def test_values_read_as_a_person_expects() -> None:
    assert format_seconds(510.3986) == "8 min 30 s"
    assert format_seconds(42.4) == "42 s"
    assert format_seconds(4000) == "1 h 6 min"
    assert format_value("pretrain_seconds", 510.3986) == "8 min 30 s"
    assert format_value("chance", 0.1) == "10.0 %"
    for key in ("top1", "video_top5", "accuracy", "final_train_acc", "val_order_acc"):
        assert format_value(key, 0.5625) == "56.2 %"
    assert format_value("val_rate_mse", 1.634521) == "1.635"
    assert format_value("final_lr", 0.001) == "0.001"
    assert format_value("skipped_videos", []) == "0"
    assert format_value("skipped_videos", ["a.mp4"]) == "1 (listed below)"


def test_summary_or_headline_comes_first_then_pictures(tmp_path: Path) -> None:
    png = tmp_path / "p.png"
    png.write_bytes(b"")
    table = "| metric | a |\n|---|---|\n| top-1 | 50.0 |\n\nChance level: 10.0%."
    md = write_report(tmp_path, "r", "Title", {"top1": 0.5, "total_seconds": 75.0},
                      images=[("A picture", png)], notes=["a note"], summary=table).read_text()
    assert md.startswith("# Title\n\n| metric | a |\n|---|---|\n")
    assert starts_with_markdown_table(md)
    assert md.index("| total_seconds | 1 min 15 s |") < md.index("a note") < md.index("p.png")
    md = write_report(tmp_path, "h", "Title", {"top1": 0.5, "top5": 0.75},
                      headline=("top1", "top5")).read_text()
    assert starts_with_markdown_table(md) and "| 50.0 % | 75.0 % |" in md
    assert not starts_with_markdown_table("# T\n\n- | metric | a |\n- |---|---|\n")
