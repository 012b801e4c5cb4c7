"""View synthesis (DESIGN section 5, paper section III-G, Fig. 3): a learned key generator.

Three pieces:

- ``ViewGenerator`` (G): a small 3D-conv variational autoencoder. ``G(x)`` returns a clip ``x'``
  of x's shape, plus the posterior ``mu`` and ``logvar`` for the KL term. Trained by
  ``L_view = KL + info-max + info-min`` (see ``vidssl.method.view_losses``) to keep x's motion
  while changing its appearance, so that ``x'`` is a positive key that is not a trivial copy.
- ``FlowEstimator`` (O): a small 2D U-Net applied to every consecutive frame pair, giving a
  2-channel flow ``(B, 2, T-1, H, W)`` in pixels. O only ever learns from the photometric loss
  on real clips; G uses it, frozen, as a motion probe.
- ``warp`` / ``warp_clip``: backward warping with ``grid_sample``.

Conventions, written down because the paper leaves them open:

- Flow ``o_t`` (for ``t = 1..T-1``) is the *forward* displacement from frame ``t`` to frame
  ``t+1``: channel 0 is x (to the right), channel 1 is y (downwards), in pixels. The photometric
  loss warps frame ``t+1`` back with it, ``warped_t(p) = x_{t+1}(p + o_t(p))``, and compares it
  with ``x_t(p)``. So a scene translating right by ``d`` pixels per frame has flow ``(+d, 0)``:
  the mean flow points the way things move.
- G's output range: clips are normalised tensors (mean/std-normalised RGB, or frame differences)
  whose range is not fixed, so G ends in ``tanh`` mapped affinely onto each input clip's own
  ``[min, max]`` (detached). ``x'`` therefore always lies in x's range, whatever the input mode,
  and the key encoder never sees values that real clips cannot have.
- Normalisation: GroupNorm in G and no normalisation in O. Neither keeps running statistics, so
  a frozen G behaves the same in train and eval mode and running O on ``x'`` for the info-max
  term changes none of O's state (its parameters and buffers stay bit-identical).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ViewGenerator",
    "FlowEstimator",
    "ViewSynthesis",
    "warp",
    "warp_clip",
    "flow_to_rgb",
    "build_view_module",
    "frozen_generator",
]


def _group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 8 groups where possible: batch-size independent, no running stats."""
    groups = 8 if channels % 8 == 0 else 1
    return nn.GroupNorm(groups, channels)


def _conv3d_block(cin: int, cout: int, stride: tuple[int, int, int] = (1, 1, 1)) -> nn.Sequential:
    kernel = tuple(3 if s == 1 else 4 for s in stride)
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, stride=stride, padding=1, bias=False),
        _group_norm(cout),
        nn.LeakyReLU(0.1, inplace=True),
    )


class ViewGenerator(nn.Module):
    """G: a 3D-conv VAE mapping a clip ``(B, C, T, H, W)`` to a clip of the same shape.

    The encoder halves H and W twice (T is kept: the view must keep every frame's motion) and
    gives a ``latent``-channel Gaussian posterior at ``(T, H/4, W/4)``; the decoder mirrors it.
    H and W must be multiples of 4.

    ``forward(x, sample=True)`` returns ``(x', mu, logvar)``. With ``sample=True`` the latent is
    drawn by the reparameterisation ``z = mu + sigma * eps`` (training, and key generation, where
    the noise makes every key a new view); with ``sample=False`` it is ``mu``.
    """

    def __init__(self, in_channels: int = 3, width: int = 16, latent: int = 16) -> None:
        super().__init__()
        if width < 1 or latent < 1:
            raise ValueError(f"width and latent must be >= 1; got {width}, {latent}")
        self.in_channels = in_channels
        self.width = width
        self.latent = latent
        w = width
        self.encoder = nn.Sequential(
            _conv3d_block(in_channels, w),
            _conv3d_block(w, 2 * w, stride=(1, 2, 2)),
            _conv3d_block(2 * w, 2 * w, stride=(1, 2, 2)),
        )
        self.to_mu = nn.Conv3d(2 * w, latent, 1)
        self.to_logvar = nn.Conv3d(2 * w, latent, 1)
        self.decoder = nn.Sequential(
            _conv3d_block(latent, 2 * w),
            nn.Upsample(scale_factor=(1, 2, 2), mode="nearest"),
            _conv3d_block(2 * w, w),
            nn.Upsample(scale_factor=(1, 2, 2), mode="nearest"),
            _conv3d_block(w, w),
            nn.Conv3d(w, in_channels, 3, padding=1),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``(mu, logvar)``, each ``(B, latent, T, H/4, W/4)``."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected a clip (B, {self.in_channels}, T, H, W); got {tuple(x.shape)}"
            )
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"clip height and width must be multiples of 4; got {tuple(x.shape)}")
        h = self.encoder(x)
        # Clamp so that exp(logvar) can neither overflow nor vanish early in training.
        return self.to_mu(h), self.to_logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Decode ``z`` and map ``tanh`` onto ``like``'s per-clip value range (see module doc)."""
        y = torch.tanh(self.decoder(z))
        flat = like.detach().flatten(1)
        lo = flat.amin(dim=1).view(-1, 1, 1, 1, 1)
        hi = flat.amax(dim=1).view(-1, 1, 1, 1, 1)
        return lo + (hi - lo) * (y + 1.0) * 0.5

    def forward(
        self, x: torch.Tensor, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        return self.decode(z, x), mu, logvar


class FlowEstimator(nn.Module):
    """O: a small 2D U-Net on each consecutive frame pair; ``(B,C,T,H,W) -> (B,2,T-1,H,W)``.

    Input per pair: frame t, frame t+1 and their difference (the difference makes motion
    visible to the first layer). Two stride-2 stages give a receptive field of a few dozen
    pixels at the bottom, enough for the per-frame motion of 32..112 pixel clips. The last
    layer starts at zero, so an untrained O predicts zero flow (the identity warp) rather than
    random displacements. H and W must be multiples of 4.
    """

    def __init__(self, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.width = width
        w = width
        act = nn.LeakyReLU(0.1, inplace=True)
        self.enc1 = nn.Sequential(nn.Conv2d(3 * in_channels, w, 3, padding=1), act)
        self.enc2 = nn.Sequential(
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
        )
        self.enc3 = nn.Sequential(
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(4 * w, 4 * w, 3, padding=2, dilation=2),
            nn.LeakyReLU(0.1, inplace=True),
        )
        self.dec2 = nn.Sequential(
            nn.Conv2d(4 * w + 2 * w, 2 * w, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)
        )
        self.dec1 = nn.Sequential(
            nn.Conv2d(2 * w + w, w, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)
        )
        self.out = nn.Conv2d(w, 2, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward_pairs(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flow from frames ``a`` to ``b``, both ``(N, C, H, W)``; returns ``(N, 2, H, W)``."""
        if a.shape[-1] % 4 or a.shape[-2] % 4:
            raise ValueError(f"frame height and width must be multiples of 4; got {a.shape}")
        e1 = self.enc1(torch.cat([a, b, b - a], dim=1))
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:]), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:]), e1], dim=1))
        return self.out(d1)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        if clip.dim() != 5 or clip.shape[2] < 2:
            raise ValueError(f"expected a clip (B, C, T>=2, H, W); got {tuple(clip.shape)}")
        b, c, t, h, w = clip.shape
        frames = clip.transpose(1, 2)  # (B, T, C, H, W)
        a = frames[:, :-1].reshape(b * (t - 1), c, h, w)
        nxt = frames[:, 1:].reshape(b * (t - 1), c, h, w)
        flow = self.forward_pairs(a, nxt)
        return flow.view(b, t - 1, 2, h, w).transpose(1, 2)


def warp(frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warping: ``out(p) = frames(p + flow(p))``, bilinear, border padding.

    ``frames`` ``(N, C, H, W)``, ``flow`` ``(N, 2, H, W)`` in pixels (x then y). Pixel centres
    are the sample points (``align_corners=True`` with coordinates ``0..W-1``), so a flow of
    exactly one pixel shifts the image by exactly one pixel.
    """
    n, _, h, w = frames.shape
    if flow.shape != (n, 2, h, w):
        raise ValueError(f"flow must be {(n, 2, h, w)}; got {tuple(flow.shape)}")
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    px = gx + flow[:, 0]
    py = gy + flow[:, 1]
    # Normalise to [-1, 1]; a 1-pixel axis has no extent, keep it at 0.
    nx = 2.0 * px / max(w - 1, 1) - 1.0
    ny = 2.0 * py / max(h - 1, 1) - 1.0
    grid = torch.stack([nx, ny], dim=-1)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=True)


def warp_clip(clip: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp frames ``2..T`` of ``clip`` back with ``flow``: the estimate of frames ``1..T-1``.

    ``clip`` ``(B, C, T, H, W)``, ``flow`` ``(B, 2, T-1, H, W)``; returns ``(B, C, T-1, H, W)``.
    """
    b, c, t, h, w = clip.shape
    if flow.shape != (b, 2, t - 1, h, w):
        raise ValueError(f"flow must be {(b, 2, t - 1, h, w)}; got {tuple(flow.shape)}")
    nxt = clip[:, :, 1:].transpose(1, 2).reshape(b * (t - 1), c, h, w)
    fl = flow.transpose(1, 2).reshape(b * (t - 1), 2, h, w)
    out = warp(nxt, fl)
    return out.view(b, t - 1, c, h, w).transpose(1, 2)


def flow_to_rgb(flow: np.ndarray | torch.Tensor, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-wheel coding of a flow field ``(2, H, W)`` -> uint8 RGB ``(H, W, 3)``.

    Hue = direction (the usual optical-flow wheel: right red, down yellow-green, left cyan,
    up violet), saturation = magnitude / ``max_magnitude`` (default: this field's largest),
    value 1, so zero flow is white. Pass one ``max_magnitude`` for several fields to make
    their colours comparable.
    """
    from matplotlib.colors import hsv_to_rgb

    f = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow)
    if f.ndim != 3 or f.shape[0] != 2:
        raise ValueError(f"flow must be (2, H, W); got {f.shape}")
    u, v = f[0].astype(np.float64), f[1].astype(np.float64)
    mag = np.hypot(u, v)
    scale = float(max_magnitude) if max_magnitude else float(mag.max())
    angle = np.arctan2(v, u)  # image coordinates: y points down
    hue = np.mod(angle, 2 * np.pi) / (2 * np.pi)
    sat = np.clip(mag / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(mag)
    hsv = np.stack([hue, sat, np.ones_like(mag)], axis=-1)
    return (hsv_to_rgb(hsv) * 255.0 + 0.5).astype(np.uint8)


class ViewSynthesis(nn.Module):
    """G and O together, as the view module is trained and checkpointed."""

    def __init__(self, in_channels: int = 3, width: int = 16, latent: int = 16) -> None:
        super().__init__()
        self.generator = ViewGenerator(in_channels, width, latent)
        self.flow = FlowEstimator(in_channels, width)

    def arch(self) -> dict[str, int]:
        """What is needed to rebuild the module from a checkpoint."""
        g = self.generator
        return {"in_channels": g.in_channels, "width": g.width, "latent": g.latent}


def build_view_module(view_cfg: Any, in_channels: int = 3) -> ViewSynthesis:
    """A ``ViewSynthesis`` from the ``Config.view`` section (``channels``, ``latent``)."""
    return ViewSynthesis(in_channels, int(view_cfg.channels), int(view_cfg.latent))


def frozen_generator(
    generator: ViewGenerator, sample: bool = True
) -> Callable[[torch.Tensor], torch.Tensor]:
    """G as ``fn(clip (B,C,T,H,W)) -> view (B,C,T,H,W)`` for drawing MoCo keys.

    Eval mode, parameters frozen, run under ``torch.no_grad``: key generation must never train
    G or build a graph. ``sample=True`` (default) keeps the VAE noise, so the same query gives
    a different view each time, as the paper's Gaussian noise intends; ``sample=False`` decodes
    the posterior mean (deterministic views). Reading G from a checkpoint is
    :func:`vidssl.train.checkpoint.load_view_generator`'s.
    """
    generator = generator.eval().requires_grad_(False)

    def generate(clip: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return generator(clip, sample=sample)[0]

    generate.generator = generator  # type: ignore[attr-defined]
    return generate
