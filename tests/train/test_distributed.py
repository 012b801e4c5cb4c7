"""Multi-process training: DDP on 2 CPU processes (gloo), shuffle-BN, shared queue, resume
with another number of processes (pretraining and fine-tuning); and the loader plumbing that
carries the epoch to persistent workers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image

from vidssl.config import load_config
from vidssl.method.moco import all_gather_cat, bn_splits_for, interleave
from vidssl.train import distributed as du
from vidssl.train.checkpoint import load_checkpoint
from vidssl.train.finetune import finetune
from vidssl.train.pretrain import build_model, pretrain

B = 2  # per-rank batch

TINY = [
    "data.dataset=unlabeled",
    "data.input=diff",
    "data.resize=[20,20]",
    "data.crop=16",
    "sampler.clip_len=12",
    "data.num_workers=0",
    "sampler.rate_max=2",
    "model.backbone=r3d",
    "model.width=0.125",
    "model.proj_dim=12",
    "contrastive.queue_size=16",
    "contrastive.momentum=0.9",
    "optim.name=sgd",
    "optim.lr=0.05",
    f"train.batch_size={B}",
    "train.eval_every=0",
    "train.device=cpu",
    "train.threads=1",
]


FINETUNE = ["data.dataset=folder", "finetune.epochs=1", "finetune.batch_size=2",
            "finetune.clip_len=12", "finetune.test_clips=1", "finetune.milestones=[]",
            "finetune.optimizer=sgd", "finetune.lr=0.01"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_videos(root: Path, n: int = 8, frames: int = 24) -> None:
    rng = np.random.default_rng(0)
    for v in range(n):
        folder = root / f"class{v % 2}" / f"video{v}"
        folder.mkdir(parents=True)
        base = rng.integers(0, 255, (32, 32, 3))
        for f in range(frames):
            img = np.roll(base, shift=f * (v % 3 + 1), axis=1).astype(np.uint8)
            Image.fromarray(img).save(folder / f"img_{f + 1:05d}.jpg", quality=95)


def _batch(cfg, rank: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)
    shape = (B, 3, cfg.sampler.clip_len, 16, 16)
    return {"clip": torch.randn(shape, generator=g), "key": torch.randn(shape, generator=g),
            "order": torch.randint(0, 6, (B,), generator=g),
            "rates": torch.randint(1, 3, (B, 3), generator=g).float()}


def _one_step_checks(cfg) -> None:
    """Runs on each rank: one hand-made DDP step, asserting the distributed contract."""
    rank, world = dist.get_rank(), dist.get_world_size()
    ctx = du.context()
    torch.manual_seed(0)  # identical initial weights on every rank
    model = du.prepare_model(build_model(cfg), ctx, cfg)
    ddp = du.wrap_model(model, ctx, cfg)
    ddp.train()
    batch = _batch(cfg, rank)

    # gradients: DDP's equal the mean of the per-rank (unsynchronised) gradients
    torch.manual_seed(1)
    with ddp.no_sync():
        ddp(batch)[0].backward()
    local = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    ddp.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    loss, _ = ddp(batch)
    loss.backward()
    synced = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    assert len(local) == len(synced) > 0
    for lo, sy in zip(local, synced):
        everyone = all_gather_cat(lo[None])
        torch.testing.assert_close(sy, everyone.mean(0), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(all_gather_cat(sy[None])[0], sy)  # same on all ranks

    # shuffle-BN: the keys of all ranks are dealt out over every rank's BN groups, each rank
    # encodes its share group by group; no key group holds another sample of its query's group
    moco = model.moco
    splits = bn_splits_for(B, world)
    key_enc = torch.nn.Sequential(moco.key_backbone, moco.key_projection).train()
    keys = moco.encode_keys(batch["key"], training=True)
    all_keys = all_gather_cat(keys)
    all_clips = all_gather_cat(batch["key"])
    perm = interleave(world * B, world * splits)
    m = B // splits
    expected = torch.empty_like(all_keys)
    with torch.no_grad():
        for g in range(world * splits):
            group = perm[g * m:(g + 1) * m]
            assert len({int(i) // m for i in group}) == m  # one sample per query group
            expected[group] = key_enc(all_clips[group])
    torch.testing.assert_close(all_keys, expected, rtol=1e-4, atol=1e-5)

    # queue: after one step every rank's queue is the same and holds every rank's keys
    model(batch)  # a training forward holds its keys for after_step
    mine = moco._pending_keys.clone()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.after_step()
    q = moco.queue.newest_first()[: world * B].flip(0)
    torch.testing.assert_close(q, all_gather_cat(mine).to(q.dtype))
    torch.testing.assert_close(all_gather_cat(moco.queue.keys[None])[0], moco.queue.keys)
    torch.testing.assert_close(all_gather_cat(moco.queue.keys[None])[-1], moco.queue.keys)


def _worker(rank: int, world: int, port: int, out: str, root: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        cfg = load_config(None, TINY + [f"data.root={root}", f"train.out_dir={out}",
                                        "train.epochs=2", "train.steps_per_epoch=0"])
        _one_step_checks(cfg)
        # 8 videos, 2 x 2 per step: 2 steps per epoch; stop mid-epoch 2 (Ctrl-C's path)
        pretrain(cfg, progress=False, stop_after_steps=3)
        ft = load_config(None, TINY + FINETUNE + [f"data.root={root}"])
        results = finetune(None, ft, out_dir=Path(out) / "ft", progress=False,
                           write_report=False)
        assert bool(results) == (rank == 0)  # rank 0 alone tests and reports
    finally:
        dist.destroy_process_group()


def test_two_processes_share_queue_average_grads_and_resume_in_one(tmp_path: Path) -> None:
    root, out = tmp_path / "videos", tmp_path / "run"
    _write_videos(root)
    mp.spawn(_worker, args=(2, _free_port(), str(out), str(root)), nprocs=2, join=True)

    ck = load_checkpoint(out / "checkpoint.pt")
    assert (ck["world_size"], ck["epoch"], ck["step"], ck["epoch_step"]) == (2, 1, 3, 1)
    assert len(ck["rank_rng"]) == 2
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 2  # rank 0 only

    # one process: 4 steps per epoch; a half-done epoch is 2 of them, ending at step 4 + 4
    cfg = load_config(None, TINY + [f"data.root={root}", f"train.out_dir={out}",
                                    "train.epochs=2", "train.steps_per_epoch=0"])
    resumed = load_checkpoint(pretrain(cfg, resume=out / "checkpoint.pt", progress=False))
    assert (resumed["world_size"], resumed["epoch"], resumed["step"]) == (1, 2, 8)
    assert not torch.equal(resumed["model"]["moco.queue.keys"], ck["model"]["moco.queue.keys"])
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 3

    # fine-tuning: 2 ranks wrote one epoch once; one process continues it to epoch 2
    assert len((out / "ft" / "finetune.csv").read_text().strip().splitlines()) == 2
    ft = load_config(None, TINY + FINETUNE + [f"data.root={root}", "finetune.epochs=2"])
    res = finetune(None, ft, out_dir=out / "ft", progress=False, write_report=False)
    assert res["epochs"] == 2
    assert load_checkpoint(out / "ft" / "finetune_last.pt")["epoch"] == 2
    assert len((out / "ft" / "finetune.csv").read_text().strip().splitlines()) == 3


def test_sync_bn_without_gpu_is_a_config_error() -> None:
    pytest.importorskip("torch.distributed")
    from vidssl.config import ConfigError

    cfg = load_config(None, TINY + ["contrastive.key_bn=sync"])
    model = build_model(cfg)
    for ctx in (du.DistContext(0, 2, 0), du.DistContext()):  # CPU; one process
        with pytest.raises(ConfigError, match="key_bn"):
            du.prepare_model(model, ctx, cfg)


def test_fp16_scaler_state_is_checkpointed_and_resumed(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    _write_videos(root, n=4)
    args = TINY + [f"data.root={root}", f"train.out_dir={tmp_path / 'run'}",
                   "train.steps_per_epoch=1", "train.precision=fp16", "train.channels_last=true"]
    first = load_checkpoint(pretrain(load_config(None, args + ["train.epochs=1"]),
                                     progress=False))
    assert first["scaler"]["scale"] > 0 and first["world_size"] == 1
    second = load_checkpoint(pretrain(load_config(None, args + ["train.epochs=2"]),
                                      resume=tmp_path / "run" / "checkpoint.pt",
                                      progress=False))
    assert second["step"] == 2 and "scaler" in second
