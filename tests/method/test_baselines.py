"""Baseline pretext methods: labels match the frames, models build, train and report their terms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from vidssl.config import ConfigError, load_config
from vidssl.data.datasets import VideoRecord, VideoSource
from vidssl.data.video import ArrayVideo
from vidssl.method.baselines import build_baseline_dataset, build_baseline_model
from vidssl.method.baselines.data import (
    RateClipDataset,
    VCOPDataset,
    power_of_two_rates,
    rate_clip_indices,
    vcop_tuple_indices,
)
from vidssl.method.factory import build_pretext_model


def _index_source(lengths: list[int], labels: list[int] | None = None) -> VideoSource:
    """Videos whose every pixel holds its frame index (mod 256), so clips can be read back."""
    labels = labels or [i % 2 for i in range(len(lengths))]
    videos = []
    for n in lengths:
        f = (np.arange(n) % 256).astype(np.uint8)[:, None, None, None]
        videos.append(ArrayVideo(np.broadcast_to(f, (n, 4, 4, 3)).copy()))
    records = [VideoRecord(f"v{i}", lab) for i, lab in enumerate(labels)]
    return VideoSource(records, classes=["a", "b"], videos=videos)


def _raw(frames: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """A transform that keeps the frame index: (T, H, W, 3) -> (T,) float."""
    return torch.from_numpy(frames[:, 0, 0, 0].astype(np.float32))


# ------------------------------------------------------------------------------ labels


@pytest.mark.parametrize("n", [2, 3, 4])
def test_vcop_order_label_is_the_clip_permutation(n: int) -> None:
    ds = VCOPDataset(_index_source([200] * 6), _raw, clip_len=5, n_clips=n, gap=3, seed=1)
    perms = list(itertools.permutations(range(n)))
    seen = set()
    for i in range(len(ds)):
        item = ds[i]
        clips = item["clip"].numpy()  # (n, T) frame indices
        assert clips.shape == (n, 5)
        assert (np.diff(clips, axis=1) == 1).all()  # consecutive frames inside a clip
        # Rank of each clip in time = the original position it came from.
        perm = tuple(int(x) for x in np.argsort(np.argsort(clips[:, 0])))
        assert perms[int(item["order"])] == perm
        starts = np.sort(clips[:, 0])
        assert (np.diff(starts) == 5 + 3).all()  # clip length + gap
        seen.add(int(item["order"]))
    assert len(seen) > 1


def test_vcop_tuple_shrinks_gaps_then_wraps_on_short_videos() -> None:
    rng = np.random.default_rng(0)
    idx, wrapped = vcop_tuple_indices(40, 10, 3, 8, rng)  # 30 frames of clips + 10 of gaps
    assert not wrapped and idx.max() < 40 and (np.diff(idx[:, 0]) == 15).all()
    idx, wrapped = vcop_tuple_indices(20, 10, 3, 8, rng)
    assert wrapped and idx.shape == (3, 10) and idx.max() < 20


def test_prp_rate_label_is_the_frame_step() -> None:
    rates = power_of_two_rates(1, 8)
    assert rates == [1, 2, 4, 8]
    ds = RateClipDataset(_index_source([200] * 8), _raw, rates, clip_len=6, seed=3)
    seen = set()
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            steps = np.diff(item["clip"].numpy())
            k = int(item["rate"])
            assert (steps == rates[k]).all()
            assert float(item["step"]) == rates[k]
            seen.add(k)
    assert seen == {0, 1, 2, 3}


def test_rate_clip_on_a_short_video_only_draws_rates_that_fit() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx, k, wrapped = rate_clip_indices(20, 6, [1, 2, 4, 8], rng)
        assert not wrapped and k in (0, 1) and idx.max() < 20  # rate 4 needs 21 frames
    idx, k, wrapped = rate_clip_indices(4, 6, [2, 4], rng)
    assert wrapped and k == 0 and len(idx) == 6 and idx.max() < 4


def test_pace_key_is_another_clip_of_the_same_video() -> None:
    ds = RateClipDataset(_index_source([300] * 4), _raw, [1, 2, 3, 4], clip_len=6, seed=0,
                         with_key=True)
    item = ds[2]
    assert item["key"].shape == item["clip"].shape
    assert int(item["index"]) == 2


# ------------------------------------------------------------------------------ models

BASE = [
    "model.backbone=r3d", "model.width=0.125", "sampler.clip_len=8", "sampler.min_len=2",
    "train.batch_size=4", "contrastive.queue_size=16", "contrastive.momentum=0.9",
    "finetune.clip_len=8", "data.resize=[20,20]", "data.crop=16", "data.color_jitter=0",
]


def _cfg(method: str, *extra: str):
    return load_config(None, BASE + [f"loss.method={method}", *extra])


def _batch_for(method: str, cfg, size: int = 16, b: int = 4) -> dict[str, torch.Tensor]:
    source = _index_source([120] * b, labels=[0, 1, 0, 1])
    from vidssl.method.factory import build_transform

    ds = build_baseline_dataset(cfg, source, build_transform(cfg, train=False), seed=0)
    return torch.utils.data.default_collate([ds[i] for i in range(b)])


@pytest.mark.parametrize(
    "method,extra,term,acc",
    [
        ("vcop", [], "loss_order", "order_acc"),
        ("prp", [], "loss_rate", "rate_acc"),
        ("pace", ["loss.rate=1.0", "loss.contrastive=0.1", "sampler.rate_max=4"],
         "loss_rate", "rate_acc"),
        ("supervised", [], "loss_cls", "cls_acc"),
    ],
)
def test_baseline_trains_on_a_tiny_batch(method: str, extra: list[str], term: str,
                                         acc: str) -> None:
    cfg = _cfg(method, *extra)
    torch.manual_seed(0)
    if method == "supervised":
        from vidssl.method.baselines.supervised import SupervisedModel

        model = SupervisedModel(cfg, classes=2)  # no data.root needed for the class count
    else:
        model = build_pretext_model(cfg)
    assert hasattr(model, "backbone")
    batch = _batch_for(method, cfg)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    model.train()
    for _ in range(8):
        loss, metrics = model(batch)
        assert term in metrics and acc in metrics and "loss" in metrics
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.after_step()
        losses.append(float(metrics[term]))
    assert losses[-1] < losses[0]
    if method == "pace":
        assert "loss_contrastive" in metrics
    if method == "vcop":
        assert batch["clip"].shape[:2] == (4, 3)


def test_pace_evaluation_does_not_touch_the_queue() -> None:
    cfg = _cfg("pace", "sampler.rate_max=4")
    model = build_baseline_model(cfg)
    batch = _batch_for("pace", cfg)
    before = model.moco.queue.keys.clone()
    model.eval()
    with torch.no_grad():
        model(batch)
    model.after_step()
    assert torch.equal(model.moco.queue.keys, before)
    model.train()
    model(batch)[0].backward()
    model.after_step()
    assert not torch.equal(model.moco.queue.keys, before)


def test_rate_sets_must_have_two_classes() -> None:
    with pytest.raises(ConfigError, match="powers of two"):
        build_baseline_model(_cfg("prp", "sampler.rate_min=3", "sampler.rate_max=7"))
    with pytest.raises(ConfigError, match="rate_max > sampler.rate_min"):
        build_baseline_model(_cfg("pace", "sampler.rate_min=2", "sampler.rate_max=2"))
