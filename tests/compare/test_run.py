"""``vidssl compare`` end to end on tiny data: a comparison writes its table and chart, reuses
finished work, resumes an interrupted seed exactly, refuses a bad row before running anything,
counts each method's cost, and tabulates a protocol added to the table."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import COMPARE_TINY, starts_with_markdown_table, write_compare_spec

from vidssl.cli import main
from vidssl.compare.run import run_compare, training_cost
from vidssl.compare.spec import CompareError, load_compare, method_config, parse_compare
from vidssl.config import load_config
from vidssl.errors import RunDirError


def test_tiny_comparison_writes_table_and_chart_then_resumes(tmp_path, monkeypatch) -> None:
    spec = load_compare(write_compare_spec(tmp_path, ["pretext", "retrieval", "probe", "finetune"]))
    # A pretraining stopped mid-epoch (as by Ctrl-C) is resumed, not restarted.
    from vidssl.train.pretrain import pretrain

    pretrain(method_config(spec, spec.methods[0], COMPARE_TINY), progress=False, stop_after_steps=1)
    logs: list[str] = []
    rows, paths = run_compare(spec, COMPARE_TINY, progress=False, log=logs.append)
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

    # Runs from before the val split existed (configs without its keys) stay valid, and so do
    # runs from before the realism knobs (configs and evaluation records without them).
    run = tmp_path / "runs" / "order"
    old = yaml.safe_load((run / "pretrain" / "config.yaml").read_text())
    del old["data"]["val_list"], old["data"]["synthetic"]["val_per_class"]
    del old["data"]["synthetic"]["scene_bias"], old["data"]["synthetic"]["camera"]
    (run / "pretrain" / "config.yaml").write_text(yaml.safe_dump(old))
    for record in run.glob("*.json"):
        done = json.loads(record.read_text())
        if isinstance(done.get("config"), dict):
            del done["config"]["data"]["synthetic"]["scene_bias"]
            del done["config"]["data"]["synthetic"]["camera"]
            record.write_text(json.dumps(done))
    for ev in ("pretext", "retrieval", "probe", "finetune"):  # test results: no val keys
        assert "val_per_class" not in json.loads((run / f"{ev}.json").read_text())["config"][
            "data"]["synthetic"]

    # Second run: nothing is trained or evaluated again, the same numbers come back.
    def boom(*args, **kwargs):
        raise AssertionError("a finished method ran again")

    monkeypatch.setattr("vidssl.train.pretrain.pretrain", boom)
    monkeypatch.setattr("vidssl.train.finetune.finetune", boom)  # the protocol's runner
    for where in ("vidssl.compare.run", "vidssl.eval.features"):
        monkeypatch.setattr(f"{where}.extract_features", boom)
    logs.clear()
    rows2, _ = run_compare(spec, COMPARE_TINY, progress=False, log=logs.append)
    assert any("pretraining: done" in line for line in logs)
    assert rows2[0]["runs"]["0"]["retrieval"]["top1"] == order["retrieval"]["top1"]
    assert rows2[0]["runs"]["0"]["val"] == order["val"]
    assert rows2[1]["runs"]["0"]["finetune"] == random["finetune"]

    # A changed pretraining config is refused (the folder would mix two experiments).
    with pytest.raises(RunDirError, match="--redo order"):
        run_compare(spec, [*COMPARE_TINY, "optim.lr=0.5"], progress=False, log=logs.append)


def test_resumed_multiseed_compare_equals_an_uninterrupted_one(tmp_path) -> None:
    evaluations = ["pretext", "retrieval", "probe"]
    whole = load_compare(write_compare_spec(tmp_path / "a", evaluations, seeds=[0, 1]))
    rows_a, paths = run_compare(whole, COMPARE_TINY, progress=False, log=lambda s: None)

    # Interrupted: seed 1 of 'order' stopped after one step, then the compare is rerun.
    from vidssl.train.pretrain import pretrain

    cut = load_compare(write_compare_spec(tmp_path / "b", evaluations, seeds=[0, 1]))
    pretrain(method_config(cut, cut.methods[0], COMPARE_TINY, seed=1), progress=False,
             stop_after_steps=1)
    logs: list[str] = []
    rows_b, _ = run_compare(cut, COMPARE_TINY, progress=False, log=logs.append)
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
                 "--no-progress", *COMPARE_TINY])
    assert code == 0
    assert json.loads(paths["json"].read_text())["seeds"] == [0, 1]  # other folder: untouched
    assert json.loads((tmp_path / "b" / "runs" / "compare.json").read_text())["seeds"] == [1]


def test_seeds_own_train_seed(tmp_path, capsys) -> None:
    spec = load_compare(write_compare_spec(tmp_path, ["retrieval"], seeds=[0, 1]))
    with pytest.raises(CompareError, match="train.seed=3.*conflicts with seeds"):
        run_compare(spec, [*COMPARE_TINY, "train.seed=3"], progress=False, log=lambda s: None)
    assert main(["compare", "--config", str(tmp_path / "cmp.yaml"), "--seeds", "0,x"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_a_bad_row_fails_before_anything_runs(tmp_path) -> None:
    spec = load_compare(write_compare_spec(tmp_path, ["retrieval"]))
    spec.methods[1].overrides = ["sampler.n_segments=9"]
    spec.methods[1].pretrain = True
    with pytest.raises(CompareError, match="method 'random'.*n_segments"):
        run_compare(spec, COMPARE_TINY, progress=False, log=lambda s: None)
    assert not (tmp_path / "runs" / "order").exists()


def test_table_viii_costs_on_r2plus1d() -> None:
    """The paper's Table VIII measure: VCOP runs 3 clips, ours(order) one (R(2+1)D, 112x112)."""
    base = ["model.backbone=r2plus1d", "sampler.clip_len=16", "data.crop=112"]
    vcop = training_cost(load_config(None, [*base, "method=vcop"]))["gmacs"]
    order = training_cost(load_config(None, [*base, "loss.rate=0", "loss.contrastive=0"]))
    assert order["gmacs"] == pytest.approx(21.5, rel=0.02)
    assert vcop == pytest.approx(3 * order["gmacs"], rel=0.01)


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
        "out_dir": str(tmp_path / "runs"), "overrides": COMPARE_TINY,
        "methods": [{"name": "random", "pretrain": False}]}))
    rows, paths = run_compare(load_compare(path), progress=False, log=lambda *a: None)
    assert seen == [("test", True)]
    assert rows[0]["runs"]["0"]["fake"] == {"score": 0.25}
    text = paths["md"].read_text()
    assert "fake score" in text and "25.0" in text
    with pytest.raises(CompareError, match="drawn from .*fake"):
        parse_compare({"base": "b.yaml", "out_dir": "o", "evaluations": ["nope"],
                       "methods": [{"name": "a"}]})
