"""The supervised upper bound: the same backbone trained on the labels of the training split,
through the same pretraining trainer (``loss.method: supervised``).

Training clips are the fine-tuning clips (``finetune.clip_len`` frames, ``finetune.clip_step``
apart, random position, training augmentation) and the classifier is the fine-tuning one
(dropout ``finetune.dropout``, then a linear layer), so "supervised" is exactly fine-tuning from
random init, run by the pretraining loop with the ``optim`` / ``train`` settings. The compare
tool then evaluates its backbone like any pretrained one. The held-out metric ``cls_acc`` is
single-clip accuracy on the test split.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from vidssl.config import Config
from vidssl.models.backbones import build_backbone


def num_classes(cfg: Config) -> int:
    """Classes of the configured training split (its class list, else the largest label + 1)."""
    from vidssl.data.datasets import build_source

    source = build_source(cfg.data, "train")
    labels = source.labels
    if not labels or min(labels) < 0:
        raise ValueError(
            f"loss.method=supervised needs a labelled training split; data.dataset="
            f"{cfg.data.dataset} has unlabelled videos"
        )
    return len(source.classes) or max(labels) + 1


class SupervisedModel(nn.Module):
    """Backbone + dropout + linear classifier; ``forward(batch) -> (loss, metrics)`` with
    ``batch["clip"] (B, 3, T, H, W)`` and ``batch["label"]``."""

    def __init__(self, cfg: Config, classes: int | None = None) -> None:
        super().__init__()
        m = cfg.model
        self.backbone = build_backbone(m.backbone, m.width, **m.backbone_args)
        self.num_classes = classes if classes is not None else num_classes(cfg)
        self.dropout = nn.Dropout(cfg.finetune.dropout)
        self.fc = nn.Linear(int(self.backbone.feature_dim), self.num_classes)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logits = self.fc(self.dropout(self.backbone(batch["clip"]))).float()
        label = batch["label"]
        loss = F.cross_entropy(logits, label)
        acc = (logits.detach().argmax(1) == label).float().mean()
        return loss, {"loss": loss.detach(), "loss_cls": loss.detach(), "cls_acc": acc}

    def after_step(self) -> None:
        """Nothing to update after an optimizer step."""
