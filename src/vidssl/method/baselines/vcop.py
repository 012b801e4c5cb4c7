"""VCOP (Xu et al. 2019, clip order prediction): the order head on ``n`` separately encoded clips.

VCOP encodes each of the ``n`` shuffled clips with the backbone (so a 3-clip tuple costs three
backbone passes, 115.8 GMACs with C3D in the paper's Table VIII), concatenates the features of
every pair of clips, maps each pair through a shared ``fc7`` (2D -> 512, ReLU), concatenates the
``n(n-1)/2`` pair codes, applies dropout 0.5 and classifies them into the ``n!`` orders with
``fc8``.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn


class VCOPHead(nn.Module):
    """Pairwise order classifier: ``(B, n_clips, feature_dim) -> (B, n_clips!)`` logits.

    Pairs are taken as ``(i, j)`` with ``i < j`` in clip order, as in VCOP's code, so the
    pair codes keep which clip came first in the input.
    """

    def __init__(
        self, feature_dim: int, n_clips: int, hidden: int = 512, dropout: float = 0.5
    ) -> None:
        super().__init__()
        if n_clips < 2:
            raise ValueError(f"VCOP needs >= 2 clips; got {n_clips}")
        self.n_clips = n_clips
        self.num_classes = math.factorial(n_clips)
        pairs = list(itertools.combinations(range(n_clips), 2))
        self.register_buffer("_first", torch.tensor([p[0] for p in pairs]), persistent=False)
        self.register_buffer("_second", torch.tensor([p[1] for p in pairs]), persistent=False)
        self.fc7 = nn.Linear(2 * feature_dim, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc8 = nn.Linear(hidden * len(pairs), self.num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features (B, n_clips, feature_dim)`` -> ``(B, n_clips!)`` order logits."""
        b, n, _ = features.shape
        if n != self.n_clips:
            raise ValueError(f"expected {self.n_clips} clip features, got {n}")
        # All pairs at once: (B, P, 2D) through the shared fc7, then (B, P * hidden).
        pairs = torch.cat([features[:, self._first], features[:, self._second]], dim=2)
        h = self.relu(self.fc7(pairs)).reshape(b, -1)
        return self.fc8(self.dropout(h))
