"""The task heads on top of the pooled backbone feature ``r`` (DESIGN section 2).

- :class:`OrderHead`: which of the ``n!`` segment orders the clip shows.
- :class:`RateHead`: the sampling rate of each of the ``n`` segments.
- :class:`ProjectionHead`: the MoCo v2 style projection for the contrastive loss.
"""

from __future__ import annotations

import torch
from torch import nn


class OrderHead(nn.Module):
    """Order classifier ``h = W2 (W1 r + b1) + b2`` -> ``num_classes`` (= n!) logits.

    DESIGN specifies the two layers with no non-linearity between them (as the paper's
    equation); that is the default. ``relu=True`` and ``dropout > 0`` insert ReLU and dropout
    after the first layer for users who want a true MLP; ``hidden=0`` makes it one linear layer.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 512,
        relu: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"an order head needs >= 2 classes; got {num_classes}")
        layers: list[nn.Module] = []
        if hidden:
            layers.append(nn.Linear(in_dim, hidden))
            if relu:
                layers.append(nn.ReLU(inplace=True))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = hidden
        layers.append(nn.Linear(in_dim, num_classes))
        self.net = nn.Sequential(*layers)
        self.num_classes = num_classes

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``(B, in_dim) -> (B, num_classes)`` logits."""
        return self.net(r)


class RateHead(nn.Module):
    """Sampling-rate predictor, ``alpha = W r + b``.

    ``mode="regression"`` (DESIGN, MSE loss): ``(B, n)`` rates on the raw 1..r_max scale.
    ``mode="classification"``: ``(B, n, num_rates)`` logits, one softmax per segment over the
    ``num_rates`` possible rates (class ``k`` = rate ``rate_min + k``); cross-entropy needs
    them as ``logits.transpose(1, 2)``.
    """

    def __init__(self, in_dim: int, n: int, mode: str = "regression", num_rates: int = 8) -> None:
        super().__init__()
        if mode not in ("regression", "classification"):
            raise ValueError(f"rate head mode must be regression or classification; got {mode}")
        if mode == "classification" and num_rates < 2:
            raise ValueError(f"classification needs num_rates >= 2; got {num_rates}")
        self.n = n
        self.mode = mode
        self.num_rates = num_rates if mode == "classification" else 1
        self.fc = nn.Linear(in_dim, n * self.num_rates)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``(B, in_dim) -> (B, n)`` rates, or ``(B, n, num_rates)`` logits."""
        out = self.fc(r)
        if self.mode == "classification":
            return out.view(r.shape[0], self.n, self.num_rates)
        return out


class ProjectionHead(nn.Module):
    """``Linear(in, hidden) -> ReLU -> Linear(hidden, out)`` (MoCo v2; paper 512 -> 512 -> d).

    The output is not normalised here: the similarity (cosine or shuffle, which normalises per
    chunk) decides how to normalise.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)
        )
        self.out_dim = out_dim

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``(B, in_dim) -> (B, out_dim)``."""
        return self.net(r)
