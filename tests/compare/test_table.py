"""A comparison's table: the interval arithmetic checked by hand, paired differences (against
a reference row or the row above), and missing metrics marked."""

from __future__ import annotations

import pytest

from vidssl.compare.spec import parse_compare
from vidssl.compare.table import markdown_table, mean_ci, paired_differences, summary_markdown


def test_interval_arithmetic_matches_a_hand_computation() -> None:
    # t quantile for 95%, 2 degrees of freedom: 4.3027 (statistical tables).
    t2 = 4.302653
    mean, half = mean_ci([40.0, 44.0, 48.0])  # sd 4
    assert mean == pytest.approx(44.0)
    assert half == pytest.approx(t2 * 4.0 / 3**0.5, rel=1e-6)  # 9.937
    assert mean_ci([0.5]) == (0.5, None)  # one value: no interval

    def row(name: str, top1: list[float], probe: list[float]) -> dict:
        return {"name": name, "label": name, "runs": {
            str(k): {"name": name, "retrieval": {"top1": a}, "probe": {"accuracy": b},
                     "gmacs": 1.0}
            for k, (a, b) in enumerate(zip(top1, probe, strict=True))}}

    rows = [row("ref", [0.40, 0.44, 0.48], [0.50, 0.50, 0.50]),
            row("better", [0.45, 0.50, 0.52], [0.52, 0.47, 0.51])]
    diff = paired_differences(rows, "ref", "test")["better"]
    # top-1 pairs differ by 5, 6, 4 points: mean 5, sd 1 -> 5 +- t2 / sqrt(3) = 5 +- 2.484.
    assert diff["retr. top-1"]["mean"] == pytest.approx(5.0)
    assert diff["retr. top-1"]["ci95"] == pytest.approx(t2 / 3**0.5, rel=1e-6)
    assert diff["retr. top-1"]["above_zero"] and not diff["retr. top-1"]["below_zero"]
    # probe: +2, -3, +1 -> mean 0, interval across zero: not marked.
    assert diff["probe"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert not diff["probe"]["above_zero"] and not diff["probe"]["below_zero"]
    assert "GMACs/sample" not in diff  # cost is not a paired metric

    spec = parse_compare({"base": "demo.yaml", "out_dir": "o", "name": "t",
                          "methods": [{"name": "ref"}, {"name": "better"}]})
    table = summary_markdown(spec, rows)
    assert "| ref | 44.0 ± 9.9 | 50.0 ± 0.0 | 1 |" in table
    # probe differences +2, -3, +1: sd sqrt(7) -> 0 +- t2 * sqrt(7) / sqrt(3) = 0 +- 6.57.
    assert "| better | +5.0 ± 2.5 ↑ | +0.0 ± 6.6 |" in table
    assert "### Test split (this data set has no val split" in table
    one = summary_markdown(spec, [{**r, "runs": {"0": r["runs"]["0"]}} for r in rows])
    assert "| ref | 40.0 | 50.0 | 1 |" in one and "| better | +5.0 | +2.0 |" in one
    assert "One seed per row" in one

    # a ladder (reference: previous): each row against the row above it, seed by seed
    rows.append(row("best", [0.50, 0.50, 0.60], [0.52, 0.47, 0.51]))
    ladder = paired_differences(rows, "previous", "test")
    assert list(ladder) == ["better − ref", "best − better"]
    assert ladder["better − ref"]["retr. top-1"]["mean"] == pytest.approx(5.0)
    # best - better: +5, 0, +8 -> mean 13/3
    assert ladder["best − better"]["retr. top-1"]["mean"] == pytest.approx(13 / 3)
    assert ladder["best − better"]["probe"]["mean"] == pytest.approx(0.0, abs=1e-9)
    spec = parse_compare({"base": "demo.yaml", "out_dir": "o", "name": "t",
                          "reference": "previous",
                          "methods": [{"name": "ref"}, {"name": "better"}, {"name": "best"}]})
    assert "Paired difference against the row above (test)" in summary_markdown(spec, rows)


def test_table_marks_missing_metrics() -> None:
    rows = [
        {"name": "a", "pretext": {"order_acc": 0.5}, "retrieval": {"top1": 0.25, "top5": 0.5}},
        {"name": "b", "label": "B", "retrieval": {"top1": 0.1, "top5": 0.3}, "gmacs": 1.5},
    ]
    table = markdown_table(rows, "t")
    assert "| a | 50.0 | 25.0 | 50.0 | – |" in table
    assert "| B | – | 10.0 | 30.0 | 1.5 |" in table
