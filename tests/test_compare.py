"""``vidssl compare``: the file format, a tiny end-to-end comparison, and resuming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import starts_with_markdown_table

from vidssl.cli import main
from vidssl.compare import (
    CompareError,
    load_compare,
    markdown_table,
    mean_ci,
    method_config,
    paired_differences,
    parse_compare,
    run_compare,
    summary_markdown,
    training_cost,
    view_config,
)
from vidssl.config import PACKAGE_CONFIGS, load_config

TINY = [
    "data.dataset=synthetic", "data.synthetic.size=32", "data.synthetic.train_per_class=2",
    "data.synthetic.test_per_class=1", "data.synthetic.min_frames=40",
    "data.synthetic.max_frames=48", "data.resize=[20,20]", "data.crop=16",
    "data.num_workers=0", "data.input=diff", "model.backbone=r3d", "model.width=0.125",
    "sampler.clip_len=8", "sampler.min_len=2", "train.batch_size=4", "train.epochs=1",
    "train.steps_per_epoch=2", "train.threads=1", "train.device=cpu", "train.eval_every=1",
    "contrastive.queue_size=16", "eval.clips=2", "eval.clip_len=8", "eval.batch_size=8",
    "finetune.epochs=1", "finetune.batch_size=8", "finetune.clip_len=8",
    "finetune.test_clips=2", "finetune.milestones=[10]",
]


def _write_spec(tmp_path: Path, evaluations: list[str], **extra) -> Path:
    spec = {
        "name": "tiny",
        "base": "base.yaml",
        "overrides": ["loss.rate=0"],
        "evaluations": evaluations,
        "out_dir": str(tmp_path / "runs"),
        "methods": [
            {"name": "order", "overrides": ["loss.contrastive=0"]},
            {"name": "random", "pretrain": False, "label": "random init"},
        ],
        **extra,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"name": "x"}))
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_tiny_comparison_writes_table_and_chart_then_resumes(tmp_path, monkeypatch) -> None:
    spec = load_compare(_write_spec(tmp_path, ["pretext", "retrieval", "probe", "finetune"]))
    # A pretraining stopped mid-epoch (as by Ctrl-C) is resumed, not restarted.
    from vidssl.train.pretrain import pretrain

    pretrain(method_config(spec, spec.methods[0], TINY), progress=False, stop_after_steps=1)
    logs: list[str] = []
    rows, paths = run_compare(spec, TINY, progress=False, log=logs.append)
    assert any("resuming at epoch 0" in line for line in logs)
    assert [r["name"] for r in rows] == ["order", "random"]
    assert all(list(r["runs"]) == ["0"] for r in rows)  # no seeds: one run, train.seed 0
    order, random = (r["runs"]["0"] for r in rows)
    assert (tmp_path / "runs" / "order" / "pretrain" / "checkpoint.pt").is_file()  # as before
    # The val split (default: as many videos as test) is scored too, for model selection.
    assert set(order["val"]) == {"pretext", "retrieval", "probe"}  # fine-tuning: test only
    assert set(random["val"]) == {"retrieval", "probe"}
    assert 0.0 <= order["pretext"]["order_acc"] <= 1.0
    assert "pretext" not in random  # random init has no pretext model
    for row in (order, random):
        assert 0.0 <= row["retrieval"]["top1"] <= row["retrieval"]["top5"] <= 1.0
        assert 0.0 <= row["probe"]["accuracy"] <= 1.0
        assert 0.0 <= row["finetune"]["video_top1"] <= 1.0
    assert order["gmacs"] > 0
    table = paths["md"].read_text()
    assert starts_with_markdown_table(table), table[:400]
    assert "| order |" in table and "| random init |" in table
    assert "order acc" in table and "retr. top-1" in table and "fine-tune" in table
    assert table.index("### Validation split") < table.index("### Test split")
    assert "One seed per row" in table and "±" not in table
    assert paths["png"].stat().st_size > 1000

    # Runs from before the val split existed (configs without its keys) stay valid.
    run = tmp_path / "runs" / "order"
    old = yaml.safe_load((run / "pretrain" / "config.yaml").read_text())
    del old["data"]["val_list"], old["data"]["synthetic"]["val_per_class"]
    (run / "pretrain" / "config.yaml").write_text(yaml.safe_dump(old))
    for ev in ("pretext", "retrieval", "probe", "finetune"):  # test results: no val keys
        assert "val_per_class" not in json.loads((run / f"{ev}.json").read_text())["config"][
            "data"]["synthetic"]

    # Second run: nothing is trained or evaluated again, the same numbers come back.
    def boom(*args, **kwargs):
        raise AssertionError("a finished method ran again")

    for where in ("vidssl.compare", "vidssl.train.pretrain"):
        monkeypatch.setattr(f"{where}.pretrain", boom)
    monkeypatch.setattr("vidssl.train.finetune.finetune", boom)  # the protocol's runner
    for where in ("vidssl.compare", "vidssl.eval.features"):
        monkeypatch.setattr(f"{where}.extract_features", boom)
    logs.clear()
    rows2, _ = run_compare(spec, TINY, progress=False, log=logs.append)
    assert any("pretraining: done" in line for line in logs)
    assert rows2[0]["runs"]["0"]["retrieval"]["top1"] == order["retrieval"]["top1"]
    assert rows2[0]["runs"]["0"]["val"] == order["val"]
    assert rows2[1]["runs"]["0"]["finetune"] == random["finetune"]

    # A changed pretraining config is refused (the folder would mix two experiments).
    with pytest.raises(CompareError, match="--redo order"):
        run_compare(spec, [*TINY, "optim.lr=0.5"], progress=False, log=logs.append)


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


def test_resumed_multiseed_compare_equals_an_uninterrupted_one(tmp_path) -> None:
    evaluations = ["pretext", "retrieval", "probe"]
    whole = load_compare(_write_spec(tmp_path / "a", evaluations, seeds=[0, 1]))
    rows_a, paths = run_compare(whole, TINY, progress=False, log=lambda s: None)

    # Interrupted: seed 1 of 'order' stopped after one step, then the compare is rerun.
    from vidssl.train.pretrain import pretrain

    cut = load_compare(_write_spec(tmp_path / "b", evaluations, seeds=[0, 1]))
    pretrain(method_config(cut, cut.methods[0], TINY, seed=1), progress=False,
             stop_after_steps=1)
    logs: list[str] = []
    rows_b, _ = run_compare(cut, TINY, progress=False, log=logs.append)
    assert "[order seed 1] pretraining: resuming at epoch 0 of 1" in logs
    assert (tmp_path / "b" / "runs" / "order" / "seed1" / "pretrain" / "checkpoint.pt").is_file()

    def metrics(rows: list[dict]) -> dict:
        return {(r["name"], seed): {k: run.get(k) for k in ("seed", "pretext", "retrieval",
                                                               "probe", "val")}
                for r in rows for seed, run in r["runs"].items()}

    a, b = metrics(rows_a), metrics(rows_b)
    assert list(a) == [("order", "0"), ("order", "1"), ("random", "0"), ("random", "1")]
    assert a == b
    # Two seeds are two different replicates (random init draws other weights).
    assert a[("random", "0")]["val"] != a[("random", "1")]["val"]
    table = paths["md"].read_text()
    assert "over training seeds (0, 1" in table and " ± " in table
    saved = json.loads(paths["json"].read_text())
    assert saved["seeds"] == [0, 1] and saved["reference"] == "order"
    assert set(saved["summary"]["val"]["random init"]["probe"]["values"]) == {"0", "1"}
    assert "random init" in saved["differences"]["test"]

    # --seeds replaces the file's seeds; the finished seed is read back, not run again.
    code = main(["compare", "--config", str(tmp_path / "b" / "cmp.yaml"), "--seeds", "1",
                 "--no-progress", *TINY])
    assert code == 0
    assert json.loads(paths["json"].read_text())["seeds"] == [0, 1]  # other folder: untouched
    assert json.loads((tmp_path / "b" / "runs" / "compare.json").read_text())["seeds"] == [1]


def test_seeds_own_train_seed(tmp_path, capsys) -> None:
    spec = load_compare(_write_spec(tmp_path, ["retrieval"], seeds=[0, 1]))
    with pytest.raises(CompareError, match="train.seed=3.*conflicts with seeds"):
        run_compare(spec, [*TINY, "train.seed=3"], progress=False, log=lambda s: None)
    assert main(["compare", "--config", str(tmp_path / "cmp.yaml"), "--seeds", "0,x"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_table_marks_missing_metrics() -> None:
    rows = [
        {"name": "a", "pretext": {"order_acc": 0.5}, "retrieval": {"top1": 0.25, "top5": 0.5}},
        {"name": "b", "label": "B", "retrieval": {"top1": 0.1, "top5": 0.3}, "gmacs": 1.5},
    ]
    table = markdown_table(rows, "t")
    assert "| a | 50.0 | 25.0 | 50.0 | – |" in table
    assert "| B | – | 10.0 | 30.0 | 1.5 |" in table


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "extra": 1}, "unknown key"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}],
          "evaluations": ["accuracy"]}, "evaluations"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}, {"name": "a"}]}, "duplicate"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a/b"}]}, "folder"),
        ({"base": "x", "methods": [{"name": "a"}]}, "'out_dir' is required"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a", "view": True}]},
         "no top-level 'view'"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "seeds": []}, "seeds"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "seeds": [0, 0]}, "repeat"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "seeds": "0,1"}, "seeds"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "a"}], "reference": "b"},
         "reference 'b'"),
        ({"base": "x", "out_dir": "o", "methods": [{"name": "previous"}]},
         "'previous' is reserved"),
    ],
)
def test_malformed_compare_files_are_rejected(tmp_path, raw, message) -> None:
    (tmp_path / "x").write_text("name: x\n")
    with pytest.raises(CompareError, match=message):
        parse_compare(raw, tmp_path / "cmp.yaml")


def test_a_bad_row_fails_before_anything_runs(tmp_path) -> None:
    spec = load_compare(_write_spec(tmp_path, ["retrieval"]))
    spec.methods[1].overrides = ["sampler.n_segments=9"]
    spec.methods[1].pretrain = True
    with pytest.raises(CompareError, match="method 'random'.*n_segments"):
        run_compare(spec, TINY, progress=False, log=lambda s: None)
    assert not (tmp_path / "runs" / "order").exists()


SHIPPED = sorted((PACKAGE_CONFIGS / "compare").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_compare_configs_are_valid(path: Path) -> None:
    spec = load_compare(path)
    if spec.view is not None:
        view_config(spec)
    configs = [method_config(spec, m) for m in spec.methods]  # every row validates
    assert len({c.train.out_dir for c in configs}) == len(configs)


def test_table_viii_costs_on_r2plus1d() -> None:
    """The paper's Table VIII measure: VCOP runs 3 clips, ours(order) one (R(2+1)D, 112x112)."""
    base = ["model.backbone=r2plus1d", "sampler.clip_len=16", "data.crop=112"]
    vcop = training_cost(load_config(None, [*base, "method=vcop"]))["gmacs"]
    order = training_cost(load_config(None, [*base, "loss.rate=0", "loss.contrastive=0"]))
    assert order["gmacs"] == pytest.approx(21.5, rel=0.02)
    assert vcop == pytest.approx(3 * order["gmacs"], rel=0.01)


def test_a_checkpoint_without_config_yaml_is_checked_against_the_config_it_stores(
        tmp_path, monkeypatch) -> None:
    """A row's folder that lost its config.yaml: the checkpoint's own config decides whether
    it is reused; a checkpoint that stores none is refused in one line (it could be anything)."""
    from vidssl.compare import ensure_pretrained
    from vidssl.train.checkpoint import save_checkpoint

    def boom(*args, **kwargs):
        raise AssertionError("trained although the folder was to be reused or refused")

    monkeypatch.setattr("vidssl.compare.pretrain", boom)
    cfg = load_config(None, [*TINY, f"train.out_dir={tmp_path / 'run'}"])
    ckpt = tmp_path / "run" / "checkpoint.pt"
    save_checkpoint({"kind": "pretrain", "config": cfg.to_dict(), "epoch": 1, "step": 2}, ckpt)
    logs: list[str] = []
    assert ensure_pretrained(cfg, False, logs.append, "order") == ckpt
    assert logs == ["[order] pretraining: done (1 epochs)"]
    other = load_config(None, [*TINY, f"train.out_dir={tmp_path / 'run'}", "optim.lr=0.5"])
    with pytest.raises(CompareError, match=r"another config \(optim\.lr: .*--redo order"):
        ensure_pretrained(other, False, logs.append, "order",
                          restart_hint="rerun with --redo order to start it again")
    save_checkpoint({"kind": "pretrain", "epoch": 1, "step": 2}, ckpt)
    with pytest.raises(CompareError, match="no config.yaml beside it and stores no config") as err:
        ensure_pretrained(cfg, False, logs.append, "order")
    assert "\n" not in str(err.value) and str(ckpt) in str(err.value)


def test_a_new_protocol_is_one_table_entry(tmp_path, monkeypatch) -> None:
    """A protocol added to vidssl.protocols.PROTOCOLS is accepted in a compare file's
    evaluations, run for every row and shown in the table under its own column: nothing in
    compare names the protocols."""
    from vidssl import protocols

    seen: list[tuple[str, bool]] = []

    def run(s: protocols.Scoring) -> dict:
        seen.append((s.split, s.random_init))
        return {"score": 0.25}

    fake = protocols.Protocol(run, (protocols.Column("fake score", "score", chart=True),),
                              needs_labels=False, splits=("test",))
    monkeypatch.setitem(protocols.PROTOCOLS, "fake", fake)
    path = tmp_path / "cmp.yaml"
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"name": "x"}))
    path.write_text(yaml.safe_dump({
        "name": "fake protocol", "base": "base.yaml", "evaluations": ["fake"],
        "out_dir": str(tmp_path / "runs"), "overrides": TINY,
        "methods": [{"name": "random", "pretrain": False}]}))
    rows, paths = run_compare(load_compare(path), progress=False, log=lambda *a: None)
    assert seen == [("test", True)]
    assert rows[0]["runs"]["0"]["fake"] == {"score": 0.25}
    text = paths["md"].read_text()
    assert "fake score" in text and "25.0" in text
    with pytest.raises(CompareError, match="drawn from .*fake"):
        parse_compare({"base": "b.yaml", "out_dir": "o", "evaluations": ["nope"],
                       "methods": [{"name": "a"}]})
