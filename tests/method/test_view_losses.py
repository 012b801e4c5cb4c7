"""View-synthesis losses: closed-form KL, info-max leaves O alone, info-min trains G only."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vidssl.method.view_losses import (
    charbonnier,
    infomax_loss,
    infomin_loss,
    kl_divergence,
    photometric_loss,
)
from vidssl.models.view_synthesis import FlowEstimator, ViewGenerator


def test_kl_matches_closed_form() -> None:
    mu = torch.tensor([[0.0, 1.0], [-2.0, 0.5]])
    sigma = torch.tensor([[1.0, 2.0], [0.5, 1.0]])
    per = [
        0.5 * (m * m + s * s - math.log(s * s) - 1.0)
        for m, s in zip(mu.flatten().tolist(), sigma.flatten().tolist(), strict=True)
    ]
    logvar = torch.log(sigma**2)
    assert kl_divergence(mu, logvar, "none").flatten().tolist() == pytest.approx(per, abs=1e-6)
    assert kl_divergence(mu, logvar).item() == pytest.approx(sum(per) / 4, abs=1e-6)
    # "sum": summed over each sample's elements, averaged over the batch.
    assert kl_divergence(mu, logvar, "sum").item() == pytest.approx(sum(per) / 2, abs=1e-6)
    assert kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0


def test_charbonnier_eps() -> None:
    assert charbonnier(torch.zeros(1)).item() == pytest.approx(1e-3)
    assert charbonnier(torch.tensor([3.0])).item() == pytest.approx(3.0, abs=1e-6)


def _trained_looking_flow_net() -> FlowEstimator:
    """O with a non-zero last layer, so that gradients pass through it."""
    torch.manual_seed(0)
    o = FlowEstimator(width=4)
    nn.init.normal_(o.out.weight, std=0.1)
    return o


def test_infomax_reaches_generator_and_leaves_flow_net_bit_identical() -> None:
    o = _trained_looking_flow_net()
    g = ViewGenerator(width=4, latent=4)
    x = torch.randn(2, 3, 4, 16, 16)
    before = {k: v.clone() for k, v in o.state_dict().items()}
    opt_o = torch.optim.SGD(o.parameters(), lr=1.0)
    opt_g = torch.optim.SGD(g.parameters(), lr=1.0)

    view, _, _ = g(x)
    loss = infomax_loss(o, x, view)
    opt_o.zero_grad()
    opt_g.zero_grad()
    loss.backward()
    assert all(p.grad is None for p in o.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())
    opt_o.step()
    opt_g.step()
    for k, v in o.state_dict().items():
        assert torch.equal(v, before[k]), k

    # O's own step (photometric loss on the real clip) does change it.
    opt_o.zero_grad()
    photometric_loss(x, o(x)).backward()
    opt_o.step()
    assert any(not torch.equal(v, before[k]) for k, v in o.state_dict().items())


def test_infomax_is_small_when_the_view_keeps_the_motion() -> None:
    o = _trained_looking_flow_net()
    x = torch.randn(1, 3, 4, 16, 16)
    same = infomax_loss(o, x, x.clone())
    other = infomax_loss(o, x, torch.randn_like(x))
    assert same.item() == pytest.approx(1e-3, rel=1e-3)
    assert other > same


def test_infomin_is_cosine_with_stop_gradient_on_the_clip() -> None:
    torch.manual_seed(0)
    f = nn.Sequential(nn.Conv3d(3, 4, 3), nn.AdaptiveAvgPool3d(1), nn.Flatten()).requires_grad_(
        False
    )
    x = torch.randn(2, 3, 4, 8, 8, requires_grad=True)
    view = torch.randn(2, 3, 4, 8, 8, requires_grad=True)
    loss = infomin_loss(f, x, view)
    expected = torch.cosine_similarity(f(x), f(view), dim=1).mean()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    loss.backward()
    assert x.grad is None  # stop-gradient on the real clip
    assert view.grad is not None and view.grad.abs().sum() > 0
    assert infomin_loss(f, x, x.detach()).item() == pytest.approx(1.0, abs=1e-5)


def test_kl_reduction_is_a_view_config_key() -> None:
    from vidssl.config import ConfigError, load_config

    assert load_config(None).view.kl_reduction == "mean"
    assert load_config(None, ["view.kl_reduction=sum"]).view.kl_reduction == "sum"
    with pytest.raises(ConfigError, match="view.kl_reduction"):
        load_config(None, ["view.kl_reduction=max"])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_pretrain_view_uses_the_configured_kl_reduction(monkeypatch, tmp_path, reduction) -> None:
    """The reduction reaches the loss that trains G (spied on, one tiny step)."""
    import vidssl.train.view as view_train
    from vidssl.config import load_config

    seen = []

    def spy(mu, logvar, reduction="mean"):
        seen.append(reduction)
        return kl_divergence(mu, logvar, reduction)

    monkeypatch.setattr(view_train, "kl_divergence", spy)
    cfg = load_config(None, [
        "data.dataset=synthetic", "data.synthetic.variant=direction", "data.synthetic.size=16",
        "data.synthetic.min_frames=12", "data.synthetic.max_frames=12",
        "data.synthetic.train_per_class=1", "data.synthetic.test_per_class=1",
        "data.resize=[16,16]", "data.crop=16", "data.num_workers=0", "sampler.clip_len=6",
        "sampler.n_segments=2", "model.width=0.125", "view.width=2", "view.latent=2",
        "view.extractor=random", f"view.kl_reduction={reduction}", "optim.name=adamw",
        "train.epochs=1", "train.batch_size=2", "train.steps_per_epoch=1", "train.device=cpu",
    ])
    view_train.train_view(cfg, tmp_path / "view", progress=False)
    assert seen == [reduction]
