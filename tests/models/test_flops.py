"""Parameter and MAC counts: the hand-countable case, and whole-model calls on dict batches."""

from __future__ import annotations

import torch
from torch import nn

from vidssl.models.flops import backbone_cost, call_macs, count_macs, count_params


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fc(batch["a"]) + self.fc(batch["b"])


def test_linear_macs_by_hand_and_dict_batches() -> None:
    fc = nn.Linear(8, 4)
    assert count_params(fc) == 8 * 4 + 4
    assert count_macs(fc, (3, 8)) == 3 * 8 * 4  # bias adds are not multiply-accumulates
    batch = {k: torch.empty(3, 8, device="meta") for k in ("a", "b")}
    model = _TwoInputs().train()
    assert call_macs(model, batch) == 2 * 3 * 8 * 4
    assert model.training  # the mode is restored; the weights were never touched
    assert model.fc.weight.device.type == "cpu"


def test_backbone_cost_shapes() -> None:
    cost = backbone_cost("r3d", width=0.25, frames=8, size=32)
    assert cost.input_shape == (1, 3, 8, 32, 32) and cost.feature_dim == 128
    assert cost.macs > 0 and cost.params > 0
