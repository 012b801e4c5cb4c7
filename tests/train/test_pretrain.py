"""Pretraining loop: exact resume, safe stop, NaN guard, config errors before training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import COMPARE_TINY

from vidssl.config import ConfigError, load_config
from vidssl.errors import RunDirError
from vidssl.train.checkpoint import load_checkpoint
from vidssl.train.pretrain import NonFiniteLossError, pretrain

TINY = [
    "data.dataset=synthetic",
    "data.synthetic.size=32",
    "data.synthetic.min_frames=40",
    "data.synthetic.max_frames=48",
    "data.synthetic.train_per_class=1",
    "data.synthetic.test_per_class=1",
    "data.input=diff",
    "data.resize=[32,32]",
    "data.crop=28",
    "data.num_workers=0",
    "model.backbone=r3d",
    "model.width=0.125",
    "model.proj_dim=12",
    "contrastive.queue_size=8",
    "optim.name=sgd",
    "optim.lr=0.05",
    "train.batch_size=4",
    "train.steps_per_epoch=3",
    "train.eval_every=0",
    "train.device=cpu",
]


def tiny_cfg(out: Path, *extra: str):
    return load_config(None, TINY + [f"train.out_dir={out}", *extra])


def _same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_after_epoch_equals_uninterrupted(tmp_path: Path) -> None:
    full = pretrain(tiny_cfg(tmp_path / "full", "train.epochs=2"), progress=False)
    part = pretrain(tiny_cfg(tmp_path / "part", "train.epochs=1"), progress=False)
    resumed = pretrain(tiny_cfg(tmp_path / "part", "train.epochs=2"), resume=part,
                       progress=False)
    a, b = load_checkpoint(full), load_checkpoint(resumed)
    assert a["step"] == b["step"] == 6
    _same_state(a["model"], b["model"])  # weights, key encoder and queue
    assert "queue.queue" in a["model"] or any("queue" in k for k in a["model"])


def test_resume_mid_epoch_equals_uninterrupted(tmp_path: Path) -> None:
    full = pretrain(tiny_cfg(tmp_path / "full", "train.epochs=2"), progress=False)
    cfg = tiny_cfg(tmp_path / "part", "train.epochs=2")
    stopped = pretrain(cfg, progress=False, stop_after_steps=4)
    ck = load_checkpoint(stopped)
    assert (ck["epoch"], ck["step"], ck["epoch_step"]) == (1, 4, 1)
    resumed = pretrain(cfg, resume=stopped, progress=False)
    _same_state(load_checkpoint(full)["model"], load_checkpoint(resumed)["model"])
    rows = (tmp_path / "part" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + one row per epoch, no duplicate after the resume
    # and the same epoch means as the uninterrupted run (the stop carried epoch 2's sums)
    full_rows = (tmp_path / "full" / "metrics.csv").read_text().strip().splitlines()
    seconds = rows[0].split(",").index("seconds")
    assert [r.split(",")[:seconds] + r.split(",")[seconds + 1:] for r in rows] == [
        r.split(",")[:seconds] + r.split(",")[seconds + 1:] for r in full_rows]


def test_nan_loss_names_step_and_term_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    good = pretrain(tiny_cfg(tmp_path / "good", "train.epochs=1"), progress=False)
    # the same run, whose learning rate explodes after epoch 1 (checkpointed): NaN in epoch 2
    blowup = tiny_cfg(tmp_path / "run", "train.epochs=2", "optim.milestones=[1]",
                      "optim.gamma=1e30")
    with pytest.raises(NonFiniteLossError, match=r"step \d+: loss_\w+"):
        pretrain(blowup, progress=False)
    kept = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (kept["epoch"], kept["step"]) == (1, 3)
    _same_state(load_checkpoint(good)["model"], kept["model"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("sampler.n_segments=6", "sampler.n_segments"),
        ("model.proj_dim=128", "model.proj_dim"),
        ("contrastive.queue_size=10", "contrastive.queue_size"),
        ("train.bogus=1", "train.bogus"),
    ],
)
def test_bad_config_fails_before_training_naming_the_key(override: str, key: str,
                                                         tmp_path) -> None:
    """Loading the file refuses most mistakes; the method's own (the queue's size) are
    refused by pretrain before it touches the output folder."""
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        pretrain(load_config(None, [override, f"train.out_dir={out}"]), progress=False)
    assert not out.exists()


def test_corrupt_videos_are_skipped_and_counted_not_a_crash(tmp_path: Path, capsys) -> None:
    """A folder dataset with a zero-byte file and a file that is not a video trains through."""
    from helpers import coded_frames, write_video

    root = tmp_path / "videos"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            write_video(root / cls / f"{i}.mp4", coded_frames(40, 32, 32))
    (root / "a" / "empty.mp4").write_bytes(b"")
    (root / "b" / "junk.mp4").write_bytes(b"this is not a video" * 100)
    cfg = load_config(None, TINY + [f"train.out_dir={tmp_path / 'run'}", "train.epochs=2",
                                    "data.dataset=folder", f"data.root={root}",
                                    "data.input=rgb", "train.steps_per_epoch=4"])
    ckpt = load_checkpoint(pretrain(cfg, progress=False))
    assert ckpt["step"] == 8
    printed = "".join(capsys.readouterr())
    assert "2 video(s) skipped as unreadable" in printed
    assert "empty.mp4" in printed and "junk.mp4" in printed


class _Recorder(torch.nn.Module):
    """A stand-in model that keeps every clip it is shown and scores order 0 as right."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        self.seen += list(batch["clip"])
        return torch.zeros(()), {"order_acc": (batch["order"] == 0).float().mean()}


def test_held_out_pretext_metrics_average_eval_pretext_clips_draws_per_video(tmp_path) -> None:
    """Nine held-out videos give one order accuracy in 11-point steps; eval.pretext_clips draws
    more clips per video (new segments, rates and order each), the first pass as before."""
    from vidssl.method.registry import build_pretext_dataset
    from vidssl.train.pretrain import evaluate_pretext

    cfg = tiny_cfg(tmp_path, "data.synthetic.test_per_class=2", "loss.contrastive=0")
    one, three = _Recorder(), _Recorder()
    dataset = build_pretext_dataset(cfg, "test", train=False)
    n = len(dataset)
    m1 = evaluate_pretext(one, dataset, cfg, torch.device("cpu"))
    cfg.eval.pretext_clips = 3
    m3 = evaluate_pretext(three, build_pretext_dataset(cfg, "test", train=False), cfg,
                          torch.device("cpu"))
    assert len(one.seen) == n and len(three.seen) == 3 * n
    assert all(torch.equal(a, b) for a, b in zip(one.seen, three.seen[:n]))
    assert len({c.numpy().tobytes() for c in three.seen}) == 3 * n  # every draw a new clip
    orders = [int(dataset[i]["order"] == 0) for i in range(n)]
    assert m1["val_order_acc"] == pytest.approx(sum(orders) / n)
    assert 0.0 <= m3["val_order_acc"] <= 1.0
    assert evaluate_pretext(_Recorder(), dataset, cfg, torch.device("cpu")) == m3  # repeatable


def test_a_checkpoint_without_config_yaml_is_checked_against_the_config_it_stores(
        tmp_path, monkeypatch) -> None:
    """ensure_pretrained (compare's rows, the demo) on a folder that lost its config.yaml: the
    checkpoint's own config decides whether it is reused; a checkpoint that stores none is
    refused in one line (it could be anything)."""
    from vidssl.train.checkpoint import save_checkpoint
    from vidssl.train.pretrain import ensure_pretrained

    def boom(*args, **kwargs):
        raise AssertionError("trained although the folder was to be reused or refused")

    monkeypatch.setattr("vidssl.train.pretrain.pretrain", boom)
    cfg = load_config(None, [*COMPARE_TINY, f"train.out_dir={tmp_path / 'run'}"])
    ckpt = tmp_path / "run" / "checkpoint.pt"
    save_checkpoint({"kind": "pretrain", "config": cfg.to_dict(), "epoch": 1, "step": 2}, ckpt)
    logs: list[str] = []
    assert ensure_pretrained(cfg, False, logs.append, "order") == ckpt
    assert logs == ["[order] pretraining: done (1 epochs)"]
    other = load_config(None, [*COMPARE_TINY, f"train.out_dir={tmp_path / 'run'}", "optim.lr=0.5"])
    with pytest.raises(RunDirError, match=r"another config \(optim\.lr: .*--redo order"):
        ensure_pretrained(other, False, logs.append, "order",
                          restart_hint="rerun with --redo order to start it again")
    save_checkpoint({"kind": "pretrain", "epoch": 1, "step": 2}, ckpt)
    with pytest.raises(RunDirError, match="no config.yaml beside it and stores no config") as err:
        ensure_pretrained(cfg, False, logs.append, "order")
    assert "\n" not in str(err.value) and str(ckpt) in str(err.value)
