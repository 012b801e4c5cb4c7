"""A user's mistakes through the command line: one line naming the offending file, key or line,
exit code 2, never a traceback; no run overwritten; no result under a wrong name (issue 12).

Every case runs ``vidssl.cli.main`` in-process (a traceback there would escape as an exception
or show in stderr). ``BAD_INPUTS`` plus the named tests below are the bad inputs the suite
tries; the data-loss cases also check that the earlier run's files are byte-identical.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vidssl.cli import main
from vidssl.train.checkpoint import load_checkpoint
from vidssl.train.run_dir import LOCK_NAME, RunLock

sys.path.insert(0, str(Path(__file__).parent))
from helpers import coded_frames, write_video  # noqa: E402

TINY = {
    "data": {"dataset": "synthetic", "input": "diff", "resize": [32, 32], "crop": 28,
             "num_workers": 0,
             "synthetic": {"size": 32, "min_frames": 40, "max_frames": 48,
                           "train_per_class": 1, "test_per_class": 1}},
    "model": {"backbone": "r3d", "width": 0.125, "proj_dim": 12},
    "contrastive": {"queue_size": 8},
    "optim": {"lr": 0.05},
    "train": {"batch_size": 4, "steps_per_epoch": 2, "eval_every": 0, "device": "cpu",
              "epochs": 1},
    "eval": {"clips": 2, "clip_len": 8, "batch_size": 8},
    "finetune": {"epochs": 1, "batch_size": 4, "clip_len": 8, "test_clips": 2},
}


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_user_error(capsys, argv, *names: str) -> str:
    """Exit code 2, no traceback, and a last line of stderr that names ``names``."""
    rc, _, err = cli(capsys, *argv)
    assert rc == 2, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("vidssl"), err
    for name in names:
        assert name in last, (name, last)
    return last


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder, byte for byte (the lock file is ours, not the run's)."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_NAME}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli_errors")


@pytest.fixture(scope="module")
def config(workdir) -> Path:
    path = workdir / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="module")
def finished(workdir, config) -> Path:
    """A finished pretraining run (never modified: tests copy it)."""
    out = workdir / "finished"
    assert main(["pretrain", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture
def run_copy(finished, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


@pytest.fixture(scope="module")
def other_run(workdir, config) -> Path:
    """Another finished pretraining (another seed: other weights)."""
    out = workdir / "other"
    assert main(["pretrain", "--config", str(config), "--out", str(out), "--no-progress",
                 "train.seed=7"]) == 0
    return out


@pytest.fixture(scope="module")
def damaged(workdir, finished) -> dict[str, Path]:
    """Checkpoints a user might hand us by mistake, or a hostile one."""
    good = torch.load(finished / "checkpoint.pt", weights_only=True)
    data = (finished / "checkpoint.pt").read_bytes()
    files: dict[str, Path] = {}

    def put(name: str, obj: object = None, raw: bytes | None = None) -> None:
        files[name] = workdir / f"{name}.pt"
        if raw is not None:
            files[name].write_bytes(raw)
        else:
            torch.save(obj, files[name])

    put("zero", raw=b"")
    put("truncated", raw=data[: len(data) // 3])
    put("text", raw=b"model: r3d\n" * 20)
    put("list", [1, 2, 3])
    put("noconfig", {k: v for k, v in good.items() if k != "config"})
    put("badbackbone", {**good, "backbone": "weights"})
    other_model = {**good["config"], "model": {**good["config"]["model"], "backbone": "c3d"}}
    put("mismatch", {**good, "config": other_model})
    put("pickle", {**good, "extra": Path("/etc/passwd")})  # a Python object, not plain data
    return files


# --------------------------------------------------------------------------------------------
# Data lost
# --------------------------------------------------------------------------------------------


def test_fresh_run_into_a_finished_run_is_refused_and_leaves_it_intact(run_copy, config,
                                                                       capsys):
    before = snapshot(run_copy)
    last = assert_user_error(capsys, ["pretrain", "--config", config, "--out", run_copy,
                                      "--no-progress"], str(run_copy), "--resume",
                             "--overwrite", "epoch 1 of 1")
    assert "already holds a run" in last
    assert snapshot(run_copy) == before


def test_overwrite_deletes_the_old_run_and_names_results_left_behind(run_copy, config,
                                                                     capsys):
    (run_copy / "retrieval-synthetic-video-pool.json").write_text("{}")
    old = load_checkpoint(run_copy / "checkpoint.pt")
    rc, _, err = cli(capsys, "pretrain", "--config", config, "--out", run_copy, "--overwrite",
                     "--no-progress", "train.seed=3")
    assert rc == 0, err
    assert "retrieval-synthetic-video-pool.json" in err and "do not describe" in err
    new = load_checkpoint(run_copy / "checkpoint.pt")
    assert new["config"]["train"]["seed"] == 3 and old["config"]["train"]["seed"] == 0
    rows = (run_copy / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 2  # the new run's one epoch, not appended to the old one's


def test_second_run_into_a_locked_folder_stops_at_once(run_copy, config, capsys):
    before = snapshot(run_copy)
    holder = RunLock(run_copy)  # another open file: flock conflicts as with another process
    holder.acquire()
    try:
        last = assert_user_error(capsys, ["pretrain", "--config", config, "--out", run_copy,
                                          "--resume", run_copy / "checkpoint.pt",
                                          "train.epochs=2", "--no-progress"],
                                 str(run_copy), "in use by another vidssl run",
                                 f"pid {os.getpid()}")
        assert "wait for it" in last
    finally:
        holder.release()
    assert snapshot(run_copy) == before
    # once the holder is gone (as when its process dies), the folder is free again
    rc, _, err = cli(capsys, "pretrain", "--config", config, "--out", run_copy, "--resume",
                     run_copy / "checkpoint.pt", "train.epochs=2", "--no-progress")
    assert rc == 0, err


def test_stale_lock_file_and_half_written_files_of_a_killed_run(run_copy, config, capsys,
                                                                tmp_path, monkeypatch):
    """A killed run leaves its lock file (without the lock), a temporary checkpoint of full
    size and a SkipLog folder: the next start is not blocked and removes them."""
    from vidssl.data import skip_log

    (run_copy / LOCK_NAME).write_text("pid 999999, 'vidssl pretrain', since yesterday\n")
    tmp_ckpt = run_copy / ".checkpoint.pt.k2x9f.tmp"
    tmp_ckpt.write_bytes((run_copy / "checkpoint.pt").read_bytes())
    (run_copy / "metrics.csv.tmp").write_text("epoch\n")
    monkeypatch.setattr(skip_log.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(skip_log, "_swept", False)  # a new process: it has not swept yet
    dead = tmp_path / f"{skip_log.SKIPLOG_PREFIX}999999-abc"
    live = tmp_path / f"{skip_log.SKIPLOG_PREFIX}{os.getpid()}-abc"
    for d in (dead, live):
        d.mkdir()
        (d / "1.jsonl").write_text("{}\n")
    rc, _, err = cli(capsys, "pretrain", "--config", config, "--out", run_copy, "--resume",
                     run_copy / "checkpoint.pt", "train.epochs=2", "--no-progress")
    assert rc == 0, err
    assert not tmp_ckpt.exists() and not (run_copy / "metrics.csv.tmp").exists()
    assert not dead.exists() and live.is_dir()  # a live process's folder is kept


def test_resume_into_a_folder_of_another_run_is_refused(run_copy, other_run, config, capsys):
    before = snapshot(run_copy)
    assert_user_error(capsys, ["pretrain", "--config", config, "--out", run_copy, "--resume",
                               other_run / "checkpoint.pt", "train.seed=7", "train.epochs=2",
                               "--no-progress"], str(run_copy), "another run's checkpoint.pt")
    assert snapshot(run_copy) == before


def test_pretrain_view_refuses_to_overwrite_a_view_module(tmp_path, capsys):
    out = tmp_path / "view"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"a trained view module")
    before = snapshot(out)
    assert_user_error(capsys, ["pretrain-view", "--config", "configs/view/demo.yaml", "--out",
                               out, "--no-progress"], str(out), "--overwrite")
    assert snapshot(out) == before


def test_retrieval_results_are_written_even_when_the_picture_fails(finished, tmp_path, capsys,
                                                                   monkeypatch):
    """A video whose header lies (truncated AVI) is read for features and thumbnails alike;
    a thumbnail that still fails costs the picture, not the results."""
    root = tmp_path / "videos"
    for cls in ("a", "b"):
        for i in range(2):
            write_video(root / cls / f"{i}.avi", coded_frames(40, 32, 32), "mpeg4")
    liar = root / "a" / "0.avi"
    liar.write_bytes(liar.read_bytes()[: liar.stat().st_size * 4 // 10])
    args = ["retrieve", "--checkpoint", finished / "checkpoint.pt", "--out", tmp_path / "r",
            "--no-progress", "data.dataset=folder", f"data.root={root}", "eval.topk=[1]"]
    rc, _, err = cli(capsys, *args)
    assert rc == 0 and "Traceback" not in err, err
    assert (tmp_path / "r" / "retrieval-folder-video-pool_grid.png").stat().st_size > 0

    from vidssl.data.video import VideoError
    from vidssl.eval import plots

    def broken(video, frame=None):
        raise VideoError(str(video), "cannot decode the thumbnail frame")

    monkeypatch.setattr(plots, "thumbnail", broken)
    rc, _, err = cli(capsys, *args[:4], tmp_path / "r2", *args[5:])
    assert rc == 0 and "Traceback" not in err, err
    assert "retrieval grid was not drawn" in err and "cannot decode the thumbnail" in err
    res = json.loads((tmp_path / "r2" / "retrieval-folder-video-pool.json").read_text())
    assert res["top1"] >= 0 and res["grid"] == "" and "thumbnail" in res["grid_error"]
    assert (tmp_path / "r2" / "retrieval-folder-video-pool.md").is_file()


def test_disk_full_is_one_line_and_keeps_the_checkpoint(run_copy, config, capsys, monkeypatch):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    before = (run_copy / "checkpoint.pt").read_bytes()
    real_fdopen = os.fdopen

    def full_disk(fd, mode="r", *args, **kwargs):  # checkpoint writes go to /dev/full
        if "w" in mode:
            os.close(fd)
            return open("/dev/full", mode)  # noqa: SIM115
        return real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", full_disk)
    last = assert_user_error(capsys, ["pretrain", "--config", config, "--out", run_copy,
                                      "--resume", run_copy / "checkpoint.pt", "train.epochs=2",
                                      "--no-progress"], "no space left", "checkpoint.pt")
    assert "intact" in last
    assert (run_copy / "checkpoint.pt").read_bytes() == before
    assert not list(run_copy.glob(".checkpoint.pt.*.tmp"))


# --------------------------------------------------------------------------------------------
# Results under the wrong name
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_config", [False, True])
def test_model_override_contradicting_the_checkpoint_is_refused(finished, config, tmp_path,
                                                                capsys, with_config):
    extra = ["--config", config] if with_config else []
    assert_user_error(capsys, ["retrieve", "--checkpoint", finished / "checkpoint.pt",
                               *extra, "model.backbone=c3d", "--out", tmp_path,
                               "--no-progress"], "model.backbone=c3d", "'r3d'",
                      str(finished / "checkpoint.pt"))
    assert_user_error(capsys, ["linear-probe", "--checkpoint", finished / "checkpoint.pt",
                               *extra, "data.input=rgb", "--out", tmp_path, "--no-progress"],
                      "data.input=rgb", "'diff'")
    assert not list(tmp_path.glob("*.json"))


def test_finetune_refuses_to_continue_another_checkpoints_finetuning(finished, other_run,
                                                                     tmp_path, capsys):
    out = tmp_path / "ft"
    rc, _, err = cli(capsys, "finetune", "--checkpoint", finished / "checkpoint.pt", "--out",
                     out, "--no-progress")
    assert rc == 0, err
    assert load_checkpoint(out / "finetune_last.pt")["source"]["source"].endswith(
        "finished/checkpoint.pt")
    before = snapshot(out)
    assert_user_error(capsys, ["finetune", "--checkpoint", other_run / "checkpoint.pt", "--out",
                               out, "--no-progress", "finetune.epochs=2"],
                      str(out / "finetune_last.pt"), "finished/checkpoint.pt",
                      "other/checkpoint.pt", "--no-resume")
    assert_user_error(capsys, ["finetune", "--checkpoint", finished / "checkpoint.pt", "--out",
                               out, "--no-progress", "finetune.lr=0.5"], "finetune.lr")
    assert snapshot(out) == before
    # the same checkpoint and settings, more epochs: resumed
    rc, out_text, err = cli(capsys, "finetune", "--checkpoint", finished / "checkpoint.pt",
                            "--out", out, "--no-progress", "finetune.epochs=2")
    assert rc == 0 and "resuming fine-tuning" in out_text, err
    rows = (out / "finetune.csv").read_text().strip().splitlines()
    assert len(rows) == 3


@pytest.mark.parametrize("override, key", [
    ("data.input=rgb", "data.input"),
    ("train.batch_size=2", "train.batch_size"),
    ("data.crop=24", "data.crop"),
    ("optim.lr=0.5", "optim.lr"),
    ("train.seed=3", "train.seed"),
])
def test_resume_refuses_a_config_that_changes_the_run(run_copy, config, capsys, override, key):
    before = snapshot(run_copy)
    last = assert_user_error(capsys, ["pretrain", "--config", config, "--out", run_copy,
                                      "--resume", run_copy / "checkpoint.pt", "train.epochs=2",
                                      override, "--no-progress"], key, "--resume")
    assert "in the checkpoint" in last
    assert snapshot(run_copy) == before


def test_resume_applies_and_records_what_may_change(run_copy, config, capsys):
    rc, _, err = cli(capsys, "pretrain", "--config", config, "--out", run_copy, "--resume",
                     run_copy / "checkpoint.pt", "train.epochs=2", "train.log_every=1",
                     "--no-progress")
    assert rc == 0, err
    assert "train.epochs 1 -> 2" in err
    ckpt = load_checkpoint(run_copy / "checkpoint.pt")
    assert ckpt["epoch"] == 2
    assert ckpt["history"][0]["changed"]["train.epochs"] == [1, 2]
    assert yaml.safe_load((run_copy / "config.yaml").read_text())["train"]["epochs"] == 2
    assert_user_error(capsys, ["pretrain", "--config", config, "--out", run_copy, "--resume",
                               run_copy / "checkpoint.pt", "train.epochs=1", "--no-progress"],
                      "train.epochs=1", "2 epochs")


def test_checkpoint_kind_is_checked(finished, config, tmp_path, capsys):
    ft = tmp_path / "ft"
    assert main(["finetune", "--checkpoint", str(finished / "checkpoint.pt"), "--out", str(ft),
                 "--no-progress"]) == 0
    assert_user_error(capsys, ["pretrain", "--config", config, "--out", tmp_path / "p",
                               "--resume", ft / "finetune_last.pt", "--no-progress"],
                      str(ft / "finetune_last.pt"), "fine-tuning checkpoint",
                      "needs a pretraining checkpoint")
    assert_user_error(capsys, ["show-view", "--checkpoint", finished / "checkpoint.pt",
                               "synthetic:0", "--png", tmp_path / "v.png"],
                      "pretraining checkpoint", "view-synthesis checkpoint")


# --------------------------------------------------------------------------------------------
# One line for a user's mistake
# --------------------------------------------------------------------------------------------

# (name, argv with placeholders, words the message must hold); {cfg} the tiny config,
# {run} a finished run, {dmg:NAME} a damaged checkpoint, {tmp} a fresh folder.
BAD_INPUTS = [
    ("empty config", ["pretrain", "--config", "{tmp}/empty.yaml", "--out", "{tmp}/o"],
     ["empty.yaml", "empty"]),
    ("non-UTF-8 config", ["pretrain", "--config", "{tmp}/latin1.yaml", "--out", "{tmp}/o"],
     ["latin1.yaml", "UTF-8"]),
    ("config is a folder", ["pretrain", "--config", "{tmp}", "--out", "{tmp}/o"],
     ["is a folder, not a YAML file"]),
    ("config missing", ["pretrain", "--config", "{tmp}/none.yaml", "--out", "{tmp}/o"],
     ["none.yaml", "not found"]),
    ("override not YAML", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                           "model.width=[1"], ["model.width=[1", "not valid YAML"]),
    ("override without =", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "epochs5"],
     ["epochs5"]),
    ("unknown key", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "train.epoch=5"],
     ["train.epoch"]),
    ("NaN lr", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "optim.lr=.nan"],
     ["optim.lr", "nan"]),
    ("inf lr", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "optim.lr=.inf"],
     ["optim.lr", "inf"]),
    ("NaN temperature", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                         "contrastive.temperature=.nan"], ["contrastive.temperature"]),
    ("inf temperature", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                         "contrastive.temperature=.inf"], ["contrastive.temperature"]),
    ("negative workers", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                          "--workers", "-2"], ["data.num_workers", "-2"]),
    ("crop 0", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "data.crop=0"],
     ["data.crop"]),
    ("resize 0", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "data.resize=[0,32]"],
     ["data.resize"]),
    ("width 0", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "model.width=0"],
     ["model.width"]),
    ("clip_len 0", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                    "sampler.clip_len=0"], ["sampler.clip_len"]),
    ("eval clips 0", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                      "eval.clip_len=0"], ["eval.clip_len"]),
    ("unknown device", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                        "--device", "gpu0"], ["train.device", "gpu0"]),
    ("train_per_class 0", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                           "data.synthetic.train_per_class=0"],
     ["data.synthetic.train_per_class"]),
    ("steps_per_epoch < 0", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                             "train.steps_per_epoch=-2"], ["train.steps_per_epoch"]),
    ("out_dir is a file", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/afile"],
     ["afile", "is a file"]),
    ("out_dir under a file", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/afile/sub"],
     ["afile/sub", "is a file"]),
    ("resume: zero-byte", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "--resume",
                           "{dmg:zero}"], ["zero.pt", "empty file"]),
    ("resume: truncated", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "--resume",
                           "{dmg:truncated}"], ["truncated.pt", "truncated or damaged"]),
    ("resume: missing", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "--resume",
                         "{tmp}/nothing.pt"], ["nothing.pt", "not found"]),
    ("resume: a folder", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o", "--resume",
                          "{run}"], ["is a folder", "checkpoint.pt"]),
    ("retrieve: zero-byte", ["retrieve", "--checkpoint", "{dmg:zero}"],
     ["zero.pt", "empty file (0 bytes)"]),
    ("retrieve: truncated", ["retrieve", "--checkpoint", "{dmg:truncated}"],
     ["truncated.pt", "truncated or damaged"]),
    ("retrieve: text file", ["retrieve", "--checkpoint", "{dmg:text}"],
     ["text.pt", "not a readable vidssl checkpoint"]),
    ("retrieve: a list", ["retrieve", "--checkpoint", "{dmg:list}"],
     ["list.pt", "top level is list"]),
    ("retrieve: no config", ["retrieve", "--checkpoint", "{dmg:noconfig}"],
     ["noconfig.pt", "'config'"]),
    ("retrieve: backbone not weights", ["retrieve", "--checkpoint", "{dmg:badbackbone}"],
     ["badbackbone.pt", "'backbone'"]),
    ("retrieve: backbone mismatch", ["retrieve", "--checkpoint", "{dmg:mismatch}"],
     ["mismatch.pt", "do not fit", "missing"]),
    ("retrieve: pickled object", ["retrieve", "--checkpoint", "{dmg:pickle}"],
     ["pickle.pt", "refused", "could run code"]),
    ("retrieve: --out is a file", ["retrieve", "--checkpoint", "{run}/checkpoint.pt",
                                   "--out", "{tmp}/afile"], ["afile", "is a file"]),
    ("retrieve: cuda:7", ["retrieve", "--checkpoint", "{run}/checkpoint.pt", "--device",
                          "cuda:7"], ["train.device=cuda:7"]),
    ("show-view: zero-byte", ["show-view", "--checkpoint", "{dmg:zero}", "synthetic:0",
                              "--png", "{tmp}/v.png"], ["zero.pt", "empty file"]),
    ("show-view: truncated", ["show-view", "--checkpoint", "{dmg:truncated}", "synthetic:0",
                              "--png", "{tmp}/v.png"], ["truncated.pt"]),
    ("synth: --out a file", ["synth", "--out", "{tmp}/afile", "--train-per-class", "1"],
     ["--out", "afile", "is a file"]),
    ("sample-clip: --png x.mp4", ["sample-clip", "{video}", "--png", "{tmp}/x.mp4"],
     ["x.mp4", ".png"]),
    ("sample-clip: --segments 1", ["sample-clip", "{video}", "--segments", "1"],
     ["--segments", "2..5"]),
    ("sample-clip: pattern without number", ["sample-clip", "{frames}", "--frame-pattern",
                                             "img.jpg"], ["img.jpg", "no number field"]),
    ("split list not UTF-8", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                              "data.dataset=folder", "data.root={videos}",
                              "data.train_list={tmp}/latin1.txt"],
     ["latin1.txt:2", "UTF-8"]),
    ("split list missing", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                            "data.dataset=folder", "data.root={videos}",
                            "data.train_list={tmp}/none.txt"], ["none.txt", "not found"]),
    ("split list line", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                         "data.dataset=folder", "data.root={videos}",
                         "data.train_list={tmp}/wrong.txt"], ["wrong.txt:1", "zebra"]),
    ("empty data set", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                        "data.dataset=folder", "data.root={tmp}/novideos"], ["no videos"]),
    ("fewer videos than a batch", ["pretrain", "--config", "{cfg}", "--out", "{tmp}/o",
                                   "data.dataset=folder", "data.root={videos}",
                                   "train.steps_per_epoch=0", "train.batch_size=8"],
     ["4 videos", "train.batch_size=8"]),
    ("retrieve: empty data set", ["retrieve", "--checkpoint", "{run}/checkpoint.pt", "--out",
                                  "{tmp}/r", "data.dataset=folder", "data.root={tmp}/novideos"],
     ["folder/train", "no videos"]),
    ("linear-probe: empty data set", ["linear-probe", "--checkpoint", "{run}/checkpoint.pt",
                                      "--out", "{tmp}/r", "data.dataset=folder",
                                      "data.root={tmp}/novideos", "--no-progress"],
     ["folder/train", "no videos"]),
    ("unlabeled data for fine-tuning", ["finetune", "--checkpoint", "{run}/checkpoint.pt",
                                        "--out", "{tmp}/ft", "data.dataset=unlabeled",
                                        "data.root={videos}"], ["labelled"]),
]


@pytest.fixture(scope="module")
def inputs(workdir, config, finished, damaged) -> dict[str, str]:
    d = workdir / "inputs"
    d.mkdir()
    (d / "empty.yaml").write_text("")
    (d / "latin1.yaml").write_bytes("train: {epochs: 1}\nname: caf\u00e9\n".encode("latin-1"))
    (d / "afile").write_text("a file")
    (d / "latin1.txt").write_bytes("a/0.mp4 a\nb/0.mp4 b\xe9\n".encode("latin-1"))
    (d / "wrong.txt").write_text("a/0.mp4 zebra\n")
    (d / "novideos" / "a").mkdir(parents=True)
    videos = d / "videos"
    for cls in ("a", "b"):
        for i in range(2):
            write_video(videos / cls / f"{i}.mp4", coded_frames(24, 32, 32))
    frames = d / "frames"
    frames.mkdir()
    return {"cfg": str(config), "run": str(finished), "tmp": str(d), "videos": str(videos),
            "video": str(videos / "a" / "0.mp4"), "frames": str(frames),
            **{f"dmg:{k}": str(v) for k, v in damaged.items()}}


def _fill(arg: str, values: dict[str, str]) -> str:
    for k, v in values.items():
        arg = arg.replace("{" + k + "}", v)
    return arg


@pytest.mark.parametrize("name, argv, words", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_code_2(inputs, capsys, name, argv, words):
    if "cuda" in name and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = [_fill(a, inputs) for a in argv]
    if argv[0] in ("pretrain", "retrieve", "finetune"):
        argv.append("--no-progress")
    assert_user_error(capsys, argv, *[_fill(w, inputs) for w in words])


def test_pickle_refusal_gives_no_advice_to_load_unsafely(inputs, capsys):
    last = assert_user_error(capsys, ["retrieve", "--checkpoint", inputs["dmg:pickle"]],
                             "refused")
    assert "weights_only" not in last and "trust" not in last


def test_every_video_unreadable_says_so_not_21_in_a_row(tmp_path, config, capsys):
    root = tmp_path / "junk"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            (root / cls / f"{i}.mp4").write_bytes(b"not a video" * 50)
    for workers in (0, 2):  # also when the error crosses from a DataLoader worker
        last = assert_user_error(capsys, ["pretrain", "--config", config, "--out",
                                          tmp_path / f"o{workers}", "data.dataset=folder",
                                          f"data.root={root}", "data.input=rgb",
                                          f"data.num_workers={workers}", "--no-progress"],
                                 "folder/train", "none of its 4 video(s)")
        assert "in a row" not in last  # not the old "21 videos in a row" (the path may hold 21)


def test_show_view_bad_sources(tmp_path, capsys):
    from vidssl.config import load_config
    from vidssl.train.checkpoint import save_checkpoint
    from vidssl.train.view import build_view_module, view_checkpoint_state

    cfg = load_config(None, ["data.synthetic.size=16", "data.synthetic.train_per_class=1",
                             "data.synthetic.min_frames=16", "data.synthetic.max_frames=16",
                             "data.synthetic.test_per_class=1", "data.resize=[16,16]",
                             "data.crop=16", "view.channels=4", "view.latent=2"])
    ckpt = save_checkpoint(view_checkpoint_state(cfg, build_view_module(cfg.view), 1, 1),
                           tmp_path / "view.pt")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 300)
    png = tmp_path / "v.png"
    assert_user_error(capsys, ["show-view", "--checkpoint", ckpt, bad, "--png", png],
                      "bad.mp4")
    assert_user_error(capsys, ["show-view", "--checkpoint", ckpt, "synthetic:abc", "--png",
                               png], "synthetic:abc", "synthetic:INDEX")
    assert_user_error(capsys, ["show-view", "--checkpoint", ckpt, "synthetic:99", "--png",
                               png], "synthetic:99", "outside")
    assert_user_error(capsys, ["show-view", "--checkpoint", ckpt, "synthetic:0", "--png",
                               tmp_path / "v.mp4"], "v.mp4")
    assert_user_error(capsys, ["show-view", "--checkpoint", ckpt, "synthetic:0", "--png",
                               png, "--device", "cuda:9"], "cuda:9")


# --------------------------------------------------------------------------------------------
# Small things users see
# --------------------------------------------------------------------------------------------


def test_overrides_anywhere_among_the_options(config, tmp_path, capsys):
    out = tmp_path / "o"
    rc, _, err = cli(capsys, "pretrain", "train.steps_per_epoch=1", "--config", config,
                     "model.width=0.125", "--out", out, "train.seed=4", "--no-progress")
    assert rc == 0, err
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["train"]["steps_per_epoch"] == 1 and saved["train"]["seed"] == 4


def test_sample_clip_prints_plain_numbers(inputs, capsys):
    rc, out, _ = cli(capsys, "sample-clip", inputs["video"], "--length", "8", "--min-len", "2")
    assert rc == 0
    assert "np." not in out and "int64" not in out
    assert "position 0: segment" in out


def test_bad_video_warned_once_and_evaluation_skips_in_the_summary(tmp_path, config, capsys,
                                                                   caplog):
    """A junk video in the training list and another only in the held-out list: each is
    warned about once in the run, and both appear in the end-of-epoch summary."""
    root = tmp_path / "videos"
    for cls in ("a", "b"):
        for i in range(3):
            write_video(root / cls / f"{i}.mp4", coded_frames(40, 32, 32))
    (root / "a" / "trainjunk.mp4").write_bytes(b"junk" * 100)
    (root / "b" / "testjunk.mp4").write_bytes(b"junk" * 100)
    names = [f"{c}/{i}.mp4 {c}" for c in ("a", "b") for i in range(3)]
    (root / "train.txt").write_text("\n".join(names + ["a/trainjunk.mp4 a"]) + "\n")
    (root / "test.txt").write_text("\n".join(names + ["b/testjunk.mp4 b"]) + "\n")
    rc, out, err = cli(capsys, "pretrain", "--config", config, "--out", tmp_path / "o",
                       "data.dataset=folder", f"data.root={root}", "data.input=rgb",
                       "data.train_list=train.txt", "data.test_list=test.txt",
                       "train.epochs=3", "train.eval_every=1", "train.steps_per_epoch=3",
                       "--no-progress")
    assert rc == 0, err
    warned = [r.getMessage() for r in caplog.records if "skipping unreadable" in r.getMessage()]
    assert len(warned) == 2, warned  # once per video, over three epochs and two data sets
    assert any("trainjunk.mp4" in w for w in warned) and any("testjunk.mp4" in w for w in warned)
    summaries = out.split("video(s) skipped as unreadable")
    assert len(summaries) == 2, out  # printed when a video is newly skipped, not every epoch
    assert "trainjunk.mp4" in summaries[1] and "testjunk.mp4" in summaries[1]


def test_unreadable_subfolder_of_an_unlabeled_data_set_is_reported(tmp_path, monkeypatch,
                                                                   caplog):
    from vidssl.config import DataConfig
    from vidssl.data import layouts

    root = tmp_path / "videos"
    for sub in ("ok", "locked"):
        write_video(root / sub / "v.mp4", coded_frames(8, 32, 32))
    real_scandir = os.scandir

    def scandir(path="."):  # as for a folder without read permission (tests run as root)
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with caplog.at_level("WARNING", logger="vidssl.data"):
        source = layouts.build_source(DataConfig(dataset="unlabeled", root=str(root)), "all")
    assert [Path(r.path).parent.name for r in source.records] == ["ok"]
    assert "locked" in caplog.text and "Permission denied" in caplog.text
    assert "left out" in caplog.text


def test_cli_turns_a_diverged_training_into_one_line_and_exit_code_3(monkeypatch, capsys):
    """compare and demo train too: a NaN there is the same one line (exit 3) as in pretrain."""
    import argparse

    from vidssl import cli
    from vidssl.errors import NonFiniteLossError

    def diverge(args):
        raise NonFiniteLossError("step 7: loss_order is nan; the last good checkpoint is kept")

    monkeypatch.setattr(cli, "parse_args",
                        lambda parser, argv: argparse.Namespace(func=diverge))
    assert cli.main(["compare", "--config", "x.yaml"]) == 3
    err = capsys.readouterr().err
    assert err.strip() == ("vidssl: step 7: loss_order is nan; the last good checkpoint is kept")
