"""The method registry: every method builds from a config, trains on its own clips, and gives an
example batch shaped like them; the method is named by the top-level ``method:`` key (the old
``loss.method`` and ``ours`` still load, with a note)."""

from __future__ import annotations

import pytest
import torch
from helpers import index_source

from vidssl.config import Config, ConfigError, load_config
from vidssl.data.transforms import ClipTransform
from vidssl.method.registry import (
    build_model,
    check_config,
    example_batch,
    get_method,
    list_methods,
)

BASE = [
    "model.backbone=r3d", "model.width=0.125", "sampler.clip_len=8", "sampler.min_len=2",
    "train.batch_size=4", "contrastive.queue_size=16", "contrastive.momentum=0.9",
    "finetune.clip_len=8", "data.resize=[20,20]", "data.crop=16", "data.color_jitter=0",
]


def _cfg(method: str, *extra: str) -> Config:
    """A config as a training command gets it: loaded, then checked by its method."""
    cfg = load_config(None, BASE + [f"method={method}", *extra])
    check_config(cfg)
    return cfg


def _batch_for(cfg: Config, b: int = 4) -> dict[str, torch.Tensor]:
    """A batch of the method's own dataset on in-memory videos (no data.root needed)."""
    source = index_source([120] * b, labels=[0, 1, 0, 1])
    transform = ClipTransform.from_config(cfg.data, train=False)
    ds = get_method(cfg.method).dataset(cfg, source, transform, 0)
    return torch.utils.data.default_collate([ds[i] for i in range(b)])


def _model(cfg: Config) -> torch.nn.Module:
    if cfg.method == "supervised":  # no data.root here to count classes in
        from vidssl.method.baselines.supervised import SupervisedModel

        return SupervisedModel.from_config(cfg, classes=2)
    return build_model(cfg)


def test_every_shipped_method_is_registered() -> None:
    assert list_methods() == ["order-rate-moco", "pace", "prp", "supervised", "vcop"]


@pytest.mark.parametrize(
    "method,extra,term,acc",
    [
        ("order-rate-moco", [], "loss_order", "order_acc"),
        ("vcop", [], "loss_order", "order_acc"),
        ("prp", [], "loss_rate", "rate_acc"),
        ("pace", ["loss.rate=1.0", "loss.contrastive=0.1", "sampler.rate_max=4"],
         "loss_rate", "rate_acc"),
        ("supervised", [], "loss_cls", "cls_acc"),
    ],
)
def test_method_trains_on_a_tiny_batch_of_its_own_clips(method: str, extra: list[str],
                                                         term: str, acc: str) -> None:
    cfg = _cfg(method, *extra)
    torch.manual_seed(0)
    model = _model(cfg)
    assert hasattr(model, "backbone")
    batch = _batch_for(cfg)
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
    if method in ("pace", "order-rate-moco"):
        assert "loss_contrastive" in metrics
    if method == "vcop":
        assert batch["clip"].shape[:2] == (4, 3)


@pytest.mark.parametrize("method", ["order-rate-moco", "vcop", "prp", "pace", "supervised"])
def test_example_batch_is_shaped_like_the_real_one(method: str) -> None:
    """Benchmarks and the cost counter use the example batch in place of decoded clips."""
    cfg = _cfg(method, "sampler.rate_max=4")
    real, fake = _batch_for(cfg), example_batch(cfg, 4)
    model = _model(cfg)
    for k, v in fake.items():
        assert k in real, k
        assert v.shape == real[k].shape and v.dtype == real[k].dtype, k
    model(fake)  # labels in range: the loss is computed without an index error


def test_method_is_a_top_level_key_and_old_names_still_load(capsys, monkeypatch) -> None:
    import vidssl.config

    monkeypatch.setattr(vidssl.config, "_NOTED", set())  # notes are once per process
    assert Config().method == "order-rate-moco"
    assert load_config(None, ["method=vcop"]).method == "vcop"
    old = load_config(None, ["loss.method=ours"])
    assert old.method == "order-rate-moco" and "method" not in old.to_dict()["loss"]
    err = capsys.readouterr().err
    assert "loss.method is now the top-level key method:" in err
    assert "'ours' is now called 'order-rate-moco'" in err
    assert load_config(None, ["method=ours"]).method == "order-rate-moco"
    with pytest.raises(ConfigError, match="keep only method"):
        load_config(None, ["method=vcop", "loss.method=prp"])


def test_unknown_method_names_the_key_and_the_known_ones() -> None:
    cfg = load_config(None, ["method=byol"])  # the loader knows no methods: it imports none
    with pytest.raises(ConfigError, match=r"method: unknown method 'byol' \(known: order-rate"):
        check_config(cfg)


def test_the_queue_check_names_the_key() -> None:
    cfg = load_config(None, ["contrastive.queue_size=100"])
    with pytest.raises(ConfigError, match=r"contrastive\.queue_size=100 must be a positive mult"):
        check_config(cfg)


def test_queue_check_applies_only_to_methods_with_a_queue() -> None:
    with pytest.raises(ConfigError, match=r"contrastive\.queue_size=10 must be a positive"):
        _cfg("pace", "contrastive.queue_size=10", "sampler.rate_max=4")
    _cfg("vcop", "contrastive.queue_size=10")  # no queue: its size does not matter
    _cfg("order-rate-moco", "contrastive.queue_size=10", "loss.contrastive=0")


def test_a_batch_size_that_gives_single_sample_bn_groups_is_warned_about(capsys, monkeypatch):
    """MoCo's shuffled key BN with a prime batch falls back to BN groups of one sample: the
    config check says so in one line naming train.batch_size, once per batch size."""
    from vidssl.method import registry

    monkeypatch.setattr(registry, "_warned_bn_batches", set())
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    prime = ["train.batch_size=13", "contrastive.queue_size=26"]
    _cfg("order-rate-moco", *prime)
    _cfg("order-rate-moco", *prime)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "BatchNorm groups" in ln]
    assert len(lines) == 1
    assert "train.batch_size=13" in lines[0] and "multiple of 4 (12 or 16)" in lines[0]
    for quiet in (["train.batch_size=12", "contrastive.queue_size=24"],  # groups of 3
                  [*prime, "contrastive.key_bn=sync"], [*prime, "contrastive.bn_splits=1"],
                  [*prime, "loss.contrastive=0"]):
        _cfg("order-rate-moco", *quiet)
        assert "BatchNorm groups" not in capsys.readouterr().err, quiet
