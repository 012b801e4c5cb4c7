"""Losses of the view-synthesis module (DESIGN section 5, paper eqs. 13-16).

- ``photometric_loss`` trains the flow estimator O (and only O) on real clips.
- ``kl_divergence``, ``infomax_loss`` and ``infomin_loss`` train the generator G:
  ``L_view = kl * L_KL + infomax * L_infomax + infomin * L_infomin``.

Reductions, chosen so that the default weights of 1 give terms of comparable size:

- Charbonnier terms (photometric, info-max) are *means* over every element.
- The KL term is the paper's ``0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1)`` *averaged* over
  latent elements and batch (``reduction="mean"``, the default). Summed over a
  ``16 x 16 x 8 x 8`` latent it would be ~10^4 times larger than the mean-reduced info-max term
  and would, at weight 1, push the posterior onto the prior and make ``x'`` unrelated to ``x``.
  ``reduction="sum"`` (summed over latent elements, averaged over the batch: the textbook VAE
  convention) is the paper's eq. 14 literally.

The config key ``view.kl_reduction`` (``mean`` | ``sum``) chooses between the two for
``vidssl pretrain-view``; with ``sum``, ``view.kl`` should shrink by about the latent's element
count per clip (``view.latent * T * H/4 * W/4``, see ``ViewGenerator``) to keep the balance
that the default weights of 1 give with ``mean``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from vidssl.models.view_synthesis import warp_clip

__all__ = [
    "CHARBONNIER_EPS",
    "charbonnier",
    "photometric_loss",
    "kl_divergence",
    "infomax_loss",
    "infomin_loss",
]

CHARBONNIER_EPS = 1e-3


def charbonnier(x: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """``rho(x) = sqrt(x^2 + eps^2)``, elementwise: a differentiable L1."""
    return torch.sqrt(x * x + eps * eps)


def photometric_loss(
    clip: torch.Tensor, flow: torch.Tensor, eps: float = CHARBONNIER_EPS
) -> torch.Tensor:
    """Mean Charbonnier distance between frames ``1..T-1`` and frames ``2..T`` warped back.

    ``clip`` ``(B, C, T, H, W)``, ``flow`` ``(B, 2, T-1, H, W)`` (see ``warp_clip`` for the
    flow convention). Eq. 13 of the paper.
    """
    warped = warp_clip(clip, flow)
    return charbonnier(warped - clip[:, :, :-1], eps).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) = ``0.5 * (mu^2 + sigma^2 - log sigma^2 - 1)`` per element.

    ``reduction="mean"``: averaged over all elements (default, see module doc); ``"sum"``:
    summed over each sample's elements, averaged over the batch (dim 0); ``"none"``: per element.
    """
    per_element = 0.5 * (mu * mu + logvar.exp() - logvar - 1.0)
    if reduction == "mean":
        return per_element.mean()
    if reduction == "sum":
        return per_element.flatten(1).sum(dim=1).mean()
    if reduction == "none":
        return per_element
    raise ValueError(f"reduction must be mean, sum or none; got {reduction!r}")


def infomax_loss(
    flow_net: nn.Module, clip: torch.Tensor, view: torch.Tensor, eps: float = CHARBONNIER_EPS
) -> torch.Tensor:
    """``mean rho(O(x).detach() - O(x'))``: the view must keep the clip's motion (eq. 15).

    Gradients reach ``view`` (hence G) only. O runs through ``torch.func.functional_call`` on
    *detached* copies of its parameters, so the term adds nothing to O's ``.grad`` and no
    optimizer step can move O with it — the paper's "parameters resumed to the original
    values after backpropagation", without the save/restore. ``O(x)`` is computed without a
    graph at all (stop-gradient on the target, against collapse).
    """
    with torch.no_grad():
        target = flow_net(clip)
    params = {k: v.detach() for k, v in flow_net.named_parameters()}
    buffers = {k: v.detach() for k, v in flow_net.named_buffers()}
    pred = functional_call(flow_net, (params, buffers), (view,))
    return charbonnier(target - pred, eps).mean()


def infomin_loss(extractor: nn.Module, clip: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of ``f(x)`` (stop-gradient) and ``f(x')``, to be minimised (eq. 16).

    ``extractor`` is a frozen backbone (``forward(x) -> (B, D)``; a 5-D feature map is
    flattened). Its parameters should have ``requires_grad=False``; gradients still pass
    through it to ``view``. Minimising pushes x' away from x's appearance features.
    """
    with torch.no_grad():
        fx = extractor(clip).flatten(1)
    fv = extractor(view).flatten(1)
    return F.cosine_similarity(fx, fv, dim=1).mean()
