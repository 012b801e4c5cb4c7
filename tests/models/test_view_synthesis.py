"""View synthesis: warping convention, G's output contract, loading a frozen G for keys."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidssl.method.view_losses import charbonnier, photometric_loss
from vidssl.models.view_synthesis import (
    FlowEstimator,
    ViewGenerator,
    ViewSynthesis,
    flow_to_rgb,
    frozen_generator,
    warp_clip,
)


def translating_clip(dx: int, dy: int, t: int = 6, size: int = 32, seed: int = 0) -> torch.Tensor:
    """A smooth random texture whose content moves by (dx, dy) pixels per frame."""
    g = torch.Generator().manual_seed(seed)
    pad = abs(dx) * t + abs(dy) * t + 4
    tex = torch.randn(1, 3, size + 2 * pad, size + 2 * pad, generator=g)
    tex = F.avg_pool2d(tex, 3, 1, 1)[0]
    frames = []
    for i in range(t):
        # Moving the content by +d is moving the viewing window by -d.
        x0, y0 = pad - dx * i, pad - dy * i
        frames.append(tex[:, y0 : y0 + size, x0 : x0 + size])
    return torch.stack(frames, dim=1)[None]  # (1, 3, T, H, W)


def constant_flow(clip: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    b, _, t, h, w = clip.shape
    flow = torch.zeros(b, 2, t - 1, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


@pytest.mark.parametrize("dx,dy", [(2, 0), (-1, 0), (0, 3), (1, -2)])
def test_true_flow_warps_next_frames_onto_previous(dx: int, dy: int) -> None:
    clip = translating_clip(dx, dy)
    m = 8  # stay clear of the borders, where the warp must invent pixels
    warped = warp_clip(clip, constant_flow(clip, dx, dy))
    err_true = (warped - clip[:, :, :-1])[..., m:-m, m:-m]
    assert err_true.abs().max() < 1e-4
    assert charbonnier(err_true).mean() < 2e-3  # the photometric loss on interior pixels
    for wx, wy in [(-dx, -dy), (dx + 1, dy), (0, 0)]:
        wrong = warp_clip(clip, constant_flow(clip, wx, wy))
        err = (wrong - clip[:, :, :-1])[..., m:-m, m:-m]
        assert charbonnier(err).mean() > 0.1


def test_photometric_loss_prefers_the_true_flow() -> None:
    clip = translating_clip(1, 0)
    assert photometric_loss(clip, constant_flow(clip, 1, 0)) < 0.5 * photometric_loss(
        clip, constant_flow(clip, -1, 0)
    )


def test_generator_output_has_input_shape_and_range() -> None:
    torch.manual_seed(0)
    g = ViewGenerator(width=4, latent=4)
    x = torch.randn(2, 3, 8, 32, 32) * torch.tensor([1.0, 5.0]).view(2, 1, 1, 1, 1)
    view, mu, logvar = g(x)
    assert view.shape == x.shape
    assert mu.shape == logvar.shape == (2, 4, 8, 8, 8)
    for i in range(2):
        assert view[i].min() >= x[i].min() - 1e-5
        assert view[i].max() <= x[i].max() + 1e-5
    # Sampling makes views differ; the posterior mean is deterministic.
    assert not torch.equal(g(x)[0], g(x)[0])
    assert torch.equal(g(x, sample=False)[0], g(x, sample=False)[0])


def test_flow_estimator_shape_and_identity_start() -> None:
    o = FlowEstimator(width=4)
    flow = o(torch.randn(2, 3, 5, 16, 16))
    assert flow.shape == (2, 2, 4, 16, 16)
    assert torch.count_nonzero(flow) == 0  # untrained O: identity warp


def test_flow_colour_wheel() -> None:
    flow = np.zeros((2, 4, 4), dtype=np.float32)
    flow[0, 0, 0] = 1.0  # right
    flow[0, 0, 1] = -1.0  # left
    rgb = flow_to_rgb(flow)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[3, 3]) == (255, 255, 255)  # no motion: white
    assert tuple(rgb[0, 0]) == (255, 0, 0)  # right: red
    assert tuple(rgb[0, 1]) == (0, 255, 255)  # left: the opposite hue


def test_frozen_generator_draws_views_without_training_g() -> None:
    torch.manual_seed(0)
    module = ViewSynthesis(width=4, latent=4)
    gen = frozen_generator(module.generator, sample=False)
    x = torch.randn(2, 3, 4, 16, 16, requires_grad=True)
    out = gen(x)
    assert out.shape == x.shape and not out.requires_grad
    assert torch.allclose(out, module.generator(x, sample=False)[0])
    assert not any(p.requires_grad for p in gen.generator.parameters())
    assert not gen.generator.training


def test_flow_estimator_learns_motion_direction_from_photometric_loss() -> None:
    """A few seconds of O's own training: its mean flow points the way the texture moves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convs: extra threads only add contention
    try:
        _train_and_check_direction()
    finally:
        torch.set_num_threads(threads)


def _train_and_check_direction() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    dirs = torch.tensor([(1, 0), (-1, 0), (0, 1), (0, -1)])

    def batch(n: int, size: int = 16, t: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
        # Smooth texture: a rough one gives bilinear warping no gradient at zero flow.
        tex = torch.randn(n, 3, size + 8, size + 8, generator=g)
        tex = F.avg_pool2d(F.avg_pool2d(tex, 3, 1, 1), 3, 1, 1)
        k = torch.randint(4, (n,), generator=g)
        clips = []
        for i in range(n):
            dx, dy = dirs[k[i]].tolist()
            frames = [
                tex[i, :, 4 - dy * j : 4 - dy * j + size, 4 - dx * j : 4 - dx * j + size]
                for j in range(t)
            ]
            clips.append(torch.stack(frames, dim=1))
        return torch.stack(clips), k

    o = FlowEstimator(width=8)
    opt = torch.optim.Adam(o.parameters(), lr=5e-3)
    for _ in range(150):
        x, _ = batch(8)
        loss = photometric_loss(x, o(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, k = batch(200)
    with torch.no_grad():
        mean_flow = o(x).mean(dim=(2, 3, 4))
    four_way = ((mean_flow @ dirs.float().T).argmax(dim=1) == k).float().mean().item()
    sign = ((mean_flow * dirs[k]).sum(dim=1) > 0).float().mean().item()
    assert four_way > 0.6  # chance 0.25
    assert sign > 0.85  # chance 0.5
