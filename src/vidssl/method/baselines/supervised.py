"""The supervised upper bound: the same backbone trained on the labels of the training split,
through the same pretraining trainer (``method: supervised``).

Training clips are the fine-tuning clips (``finetune.clip_len`` frames, ``finetune.clip_step``
apart, random position, training augmentation) and the classifier is the fine-tuning one
(dropout ``finetune.dropout``, then a linear layer), so "supervised" is exactly fine-tuning from
random init, run by the pretraining loop with the ``optim`` / ``train`` settings. The compare
tool then evaluates its backbone like any pretrained one. The held-out metric ``cls_acc`` is
single-clip accuracy on the test split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidssl.data.datasets import ClipDataset
from vidssl.data.layouts import build_source
from vidssl.data.records import VideoSource
from vidssl.data.transforms import ClipTransform
from vidssl.method.registry import register_method
from vidssl.models.backbones import build_backbone

if TYPE_CHECKING:
    from vidssl.config import Config


def num_classes(cfg: Config) -> int:
    """Classes of the configured training split (its class list, else the largest label + 1)."""
    source = build_source(cfg.data, "train")
    labels = source.labels
    if not labels or min(labels) < 0:
        raise ValueError(
            f"method: supervised needs a labelled training split; data.dataset="
            f"{cfg.data.dataset} has unlabelled videos"
        )
    return len(source.classes) or max(labels) + 1


def dataset(cfg: Config, source: VideoSource, transform: ClipTransform, seed: int) -> ClipDataset:
    """Fine-tuning clips (``finetune.clip_len`` frames, ``finetune.clip_step`` apart) with
    their labels."""
    if min(source.labels, default=-1) < 0:
        raise ValueError("method: supervised needs labelled videos (a label is -1)")
    f = cfg.finetune
    return ClipDataset(source, transform, clip_len=f.clip_len, step=f.clip_step, seed=seed)


def example_batch(cfg: Config, batch_size: int) -> dict[str, Tensor]:
    """Random fine-tuning clips with labels 0 and 1 (valid for any class count >= 2)."""
    c = cfg.data.crop
    return {"clip": torch.randn(batch_size, 3, cfg.finetune.clip_len, c, c),
            "label": torch.randint(0, 2, (batch_size,))}


@register_method("supervised", dataset=dataset, example_batch=example_batch)
class SupervisedModel(nn.Module):
    """Backbone + dropout + linear classifier; ``forward(batch) -> (loss, metrics)`` with
    ``batch["clip"] (B, 3, T, H, W)`` and ``batch["label"]``."""

    def __init__(self, backbone: nn.Module, classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = classes
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(int(backbone.feature_dim), classes)

    @classmethod
    def from_config(cls, cfg: Config, classes: int | None = None) -> SupervisedModel:
        """``model.*`` backbone, ``finetune.dropout``; ``classes`` of the training split unless
        given (counting them reads the data set's index)."""
        m = cfg.model
        backbone = build_backbone(m.backbone, m.width, **m.backbone_args)
        return cls(backbone, classes if classes is not None else num_classes(cfg),
                   dropout=cfg.finetune.dropout)
    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logits = self.fc(self.dropout(self.backbone(batch["clip"]))).float()
        label = batch["label"]
        loss = F.cross_entropy(logits, label)
        acc = (logits.detach().argmax(1) == label).float().mean()
        return loss, {"loss": loss.detach(), "loss_cls": loss.detach(), "cls_acc": acc}

    def after_step(self) -> None:
        """Nothing to update after an optimizer step."""
