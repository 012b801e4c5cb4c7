"""Run folders: a folder is claimed by one run at a time, a finished run is never overwritten
by accident, and an experiment is recognised by its config without where-and-how-fast keys."""

from __future__ import annotations

import pytest

from vidssl.config import load_config
from vidssl.errors import RunDirError
from vidssl.train.checkpoint import save_checkpoint
from vidssl.train.run_dir import (
    claim_run_dir,
    config_changes,
    experiment_dict,
    first_difference,
    prepare_out_dir,
    recorded_config,
    refuse_existing_run,
)


def test_a_claimed_folder_refuses_a_second_claim(tmp_path) -> None:
    with claim_run_dir(tmp_path / "run") as out:
        assert out.is_dir()
        with pytest.raises(RunDirError):
            with claim_run_dir(tmp_path / "run"):
                pass
    with claim_run_dir(tmp_path / "run"):  # released when the first run ended
        pass


def test_a_file_is_not_an_output_folder(tmp_path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError, match="--out"):
        prepare_out_dir(tmp_path / "f", "--out")


def test_an_existing_checkpoint_is_refused_with_the_ways_out(tmp_path) -> None:
    ckpt = save_checkpoint({"kind": "pretrain", "epoch": 1, "step": 2}, tmp_path / "c.pt")
    with pytest.raises(RunDirError, match="--overwrite"):
        refuse_existing_run(ckpt)


def test_execution_keys_do_not_make_another_experiment() -> None:
    a = load_config(None, ["train.device=cpu", "data.num_workers=0", "train.out_dir=x"])
    b = load_config(None, ["train.device=auto", "data.num_workers=3", "train.out_dir=y"])
    assert experiment_dict(a) == experiment_dict(b)
    c = load_config(None, ["optim.lr=0.5"])
    assert first_difference(experiment_dict(a), experiment_dict(c)).startswith("optim.lr: ")
    # the val split's keys count only for val results
    v = load_config(None, ["data.synthetic.val_per_class=3"])
    assert experiment_dict(v) == experiment_dict(a)
    assert experiment_dict(v, with_val=True) != experiment_dict(a, with_val=True)


def test_folders_from_before_the_realism_knobs_are_the_same_experiment() -> None:
    # config.yaml written before data.synthetic.scene_bias / camera existed lacks them; the
    # variant's value (-1) is what ran, so the folder's work is still recognised ...
    today = load_config(None, [])
    old = today.to_dict()
    del old["data"]["synthetic"]["scene_bias"], old["data"]["synthetic"]["camera"]
    assert experiment_dict(old) == experiment_dict(today)
    assert experiment_dict(old, with_val=True) == experiment_dict(today, with_val=True)
    # ... but a knob set to something else is another experiment
    scene = load_config(None, ["data.synthetic.scene_bias=0.5"])
    assert first_difference(experiment_dict(old), experiment_dict(scene)).startswith(
        "data.synthetic.scene_bias: ")


def test_the_config_a_folder_records(tmp_path) -> None:
    assert recorded_config(tmp_path, tmp_path / "c.pt", "row", "hint") is None
    save_checkpoint({"kind": "pretrain", "config": {"name": "x"}}, tmp_path / "c.pt")
    assert recorded_config(tmp_path, tmp_path / "c.pt", "row", "hint") == {"name": "x"}
    (tmp_path / "config.yaml").write_text("name: y\n")
    assert recorded_config(tmp_path, tmp_path / "c.pt", "row", "hint") == {"name": "y"}


def test_a_resume_may_change_only_where_and_how_long(tmp_path) -> None:
    old = load_config(None, ["train.epochs=2"]).to_dict()
    new = load_config(None, ["train.epochs=4"]).to_dict()
    assert config_changes(old, new, "c.pt") == {"train.epochs": [2, 4]}
    changed = load_config(None, ["optim.lr=0.5"]).to_dict()
    with pytest.raises(RunDirError, match="optim.lr"):
        config_changes(old, changed, "c.pt")
