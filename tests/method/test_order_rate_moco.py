"""The paper's pretext model: losses, switches, the MoCo step protocol."""

from __future__ import annotations

import pytest
import torch

from vidssl.config import ConfigError, load_config
from vidssl.method.order_rate_moco import PretextModel


def _cfg(*overrides: str):
    base = [
        "model.backbone=r3d",
        "model.width=0.125",
        "sampler.clip_len=8",
        "sampler.min_len=2",
        "train.batch_size=4",
        "contrastive.queue_size=16",
        "contrastive.momentum=0.9",
    ]
    return load_config(None, base + list(overrides))


def _batch(b: int = 4, t: int = 8, size: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "clip": torch.randn(b, 3, t, size, size, generator=g),
        "key": torch.randn(b, 3, t, size, size, generator=g),
        "order": torch.randint(0, 6, (b,), generator=g),
        "rates": torch.randint(1, 9, (b, 3), generator=g).float(),
        "label": torch.zeros(b, dtype=torch.long),
        "index": torch.arange(b),
    }


def _train(model: PretextModel, batches: list[dict[str, torch.Tensor]], steps: int):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    history = []
    for i in range(steps):
        loss, metrics = model(batches[i % len(batches)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.after_step()
        history.append({k: v.item() for k, v in metrics.items()})
    return history


def _similar_clips(seed: int) -> dict[str, torch.Tensor]:
    """Four clips sharing most of their content (a random network maps them close together),
    each with a key that is a slightly noisy copy: telling them apart has to be learned."""
    batch = _batch(seed=seed)
    base = torch.randn(batch["clip"].shape[1:], generator=torch.Generator().manual_seed(100))
    batch["clip"] = base + 0.3 * batch["clip"]
    noise = torch.randn(batch["clip"].shape, generator=torch.Generator().manual_seed(seed + 7))
    batch["key"] = batch["clip"] + 0.1 * noise
    return batch


@pytest.mark.parametrize("rate_mode", ["regression", "classification"])
@pytest.mark.parametrize("similarity", ["shuffle", "cosine"])
def test_each_loss_term_goes_down_on_a_fixed_batch(rate_mode: str, similarity: str) -> None:
    torch.manual_seed(0)
    # Two fixed batches taken in turn with a one-batch queue: the negatives are always the
    # other batch's keys (a queue holding a clip's own earlier key would floor InfoNCE at log 2).
    model = PretextModel.from_config(
        _cfg(f"model.rate_mode={rate_mode}", f"contrastive.similarity={similarity}",
             "contrastive.queue_size=4")
    )
    model.train()
    hist = _train(model, [_similar_clips(0), _similar_clips(1)], 30)

    def mean(term: str, rows: list[dict[str, float]]) -> float:
        return sum(r[term] for r in rows) / len(rows)

    # step 0 runs against the random initial queue, so the contrastive start is steps 1-2
    starts = {"loss_order": hist[:2], "loss_rate": hist[:2], "loss_contrastive": hist[1:3]}
    for term, start in starts.items():
        first, last = mean(term, start), mean(term, hist[-2:])
        assert last < 0.5 * first, (term, first, last)
    assert {"loss", "order_acc", "rate_mse", "contrastive_acc"} <= set(hist[0])
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in hist)


def test_loss_is_weighted_sum_of_terms() -> None:
    torch.manual_seed(0)
    model = PretextModel.from_config(
        _cfg("loss.order=0.5", "loss.rate=0.3", "loss.contrastive=2.0"))
    model.eval()
    with torch.no_grad():
        loss, m = model(_batch())
    want = 0.5 * m["loss_order"] + 0.3 * m["loss_rate"] + 2.0 * m["loss_contrastive"]
    torch.testing.assert_close(loss, want)


def test_zero_weight_switches_term_off() -> None:
    model = PretextModel.from_config(_cfg("loss.contrastive=0"))
    assert model.moco is None
    batch = _batch()
    del batch["key"]  # no key encoder forward: the key is not even needed
    loss, metrics = model(batch)
    assert "loss_contrastive" not in metrics and "loss_order" in metrics
    loss.backward()
    model.after_step()

    model = PretextModel.from_config(_cfg("loss.order=0", "loss.rate=0"))
    assert model.order_head is None and model.rate_head is None
    _, metrics = model(_batch())
    assert set(k for k in metrics if k.startswith("loss_")) == {"loss_contrastive"}

    with pytest.raises(ConfigError):
        PretextModel.from_config(_cfg("loss.order=0", "loss.rate=0", "loss.contrastive=0"))


def test_training_step_updates_queue_once_and_moves_key_encoder() -> None:
    torch.manual_seed(0)
    model = PretextModel.from_config(_cfg())
    model.train()
    batch = _batch()
    key_before = [p.clone() for p in model.moco.key_backbone.parameters()]
    loss, _ = model(batch)
    loss.backward()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.1)  # stands in for the optimizer step
    model.after_step()
    newest = model.moco.queue.newest_first()
    assert newest.shape == (16, model.moco.queue.keys.shape[1])
    assert int(model.moco.queue.ptr) == 4
    # momentum 0.9: the key encoder moved 10% of the way towards the query encoder
    key_params = model.moco.key_backbone.parameters()
    for kb, k, q in zip(key_before, key_params, model.backbone.parameters()):
        torch.testing.assert_close(k, 0.9 * kb + 0.1 * q.detach())
    # a second after_step without a forward changes nothing
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.after_step()
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_enqueued_keys_are_this_steps_keys() -> None:
    torch.manual_seed(0)
    model = PretextModel.from_config(_cfg())
    model.train()
    batch = _batch()
    loss, _ = model(batch)
    keys = model.moco._pending_keys.clone()
    loss.backward()
    model.after_step()
    torch.testing.assert_close(model.moco.queue.newest_first()[:4], keys.flip(0))


@pytest.mark.parametrize("mode", ["eval", "no_grad"])
def test_evaluation_never_touches_queue_or_key_encoder(mode: str) -> None:
    torch.manual_seed(0)
    model = PretextModel.from_config(_cfg())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if mode == "eval":
        model.eval()
        loss, metrics = model(_batch())
    else:
        model.train()
        with torch.no_grad():
            loss, metrics = model(_batch())
    model.after_step()
    for k, v in model.state_dict().items():
        if k.startswith(("moco.key_", "moco.queue.")):
            assert torch.equal(v, state[k]), k
    assert torch.isfinite(loss) and "loss_contrastive" in metrics


def test_key_generator_replaces_keys_with_probability_p() -> None:
    torch.manual_seed(0)
    model = PretextModel.from_config(_cfg())
    model.train()
    calls = []

    def synth(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return x.flip(2)

    batch = _batch()
    model.set_key_generator(synth, 1.0)
    keys_all = model._key_clips(batch, training=True)
    torch.testing.assert_close(keys_all, batch["clip"].flip(2))
    model.set_key_generator(synth, 0.0)
    assert torch.equal(model._key_clips(batch, training=True), batch["key"])
    model.set_key_generator(synth, 0.5)
    torch.manual_seed(3)
    first = model._key_clips(batch, training=True)
    torch.manual_seed(3)
    again = model._key_clips(batch, training=True)
    torch.testing.assert_close(first, again)  # the draw follows the (checkpointed) torch RNG
    for i in range(4):
        is_key = torch.equal(first[i], batch["key"][i])
        is_synth = torch.equal(first[i], batch["clip"][i].flip(1))
        assert is_key != is_synth
    # evaluation forwards always use the resampled key
    assert torch.equal(model._key_clips(batch, training=False), batch["key"])


def test_rate_mse_is_in_raw_units_in_classification_mode() -> None:
    model = PretextModel.from_config(_cfg("model.rate_mode=classification", "loss.contrastive=0"))
    model.eval()
    with torch.no_grad():
        _, m = model(_batch())
    # predictions are rates in 1..8, targets too: the error is bounded by 7^2
    assert 0 <= m["rate_mse"] <= 49


def test_model_is_built_from_plain_parts_without_a_config() -> None:
    """The model takes its parts and numbers; only from_config reads a Config."""
    from vidssl.models.backbones import build_backbone
    from vidssl.models.heads import OrderHead, RateHead

    torch.manual_seed(0)
    backbone = build_backbone("r3d", width=0.125)
    d = int(backbone.feature_dim)
    model = PretextModel(backbone, 3, 1, order_head=OrderHead(d, 6, 32),
                         rate_head=RateHead(d, 3, "classification", 8), rate_weight=0.5)
    assert model.moco is None and model.num_rates == 8
    loss, m = model(_batch())
    torch.testing.assert_close(loss, m["loss_order"] + 0.5 * m["loss_rate"])
    with pytest.raises(ValueError, match="nothing to learn"):
        PretextModel(backbone, 3, 1)


def test_model_order_relu_makes_the_order_head_an_mlp() -> None:
    """DESIGN's order head has no non-linearity (the default); model.order_relu adds one."""
    plain = PretextModel.from_config(_cfg("loss.contrastive=0"))
    mlp = PretextModel.from_config(_cfg("loss.contrastive=0", "model.order_relu=true"))
    assert not any(isinstance(m, torch.nn.ReLU) for m in plain.order_head.modules())
    assert [type(m).__name__ for m in mlp.order_head.net] == ["Linear", "ReLU", "Linear"]
