"""Action recognition: the classifier put on a backbone, and 10-clip testing (DESIGN section 7).

Testing samples ``test_clips`` clips uniformly over each video (centre crop), takes the softmax
of every clip, and predicts the video's class from the *mean of the clip softmaxes*; clip-level
top-1 (each clip judged on its own) is reported beside it because it tells how much the
averaging buys.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from vidssl.config import Config
from vidssl.eval.features import run_over_clips


class VideoClassifier(nn.Module):
    """Backbone -> dropout -> a new linear layer: the fine-tuning model.

    ``classifier`` is a fresh ``nn.Linear(backbone.feature_dim, num_classes)``; the backbone
    keeps its pretrained weights and its own ``state_dict`` keys (saved under ``backbone`` in
    fine-tuning checkpoints, so ``load_backbone`` reads them too).
    """

    uses_all_parameters = True  # for DDP: no search for unused weights (a frozen backbone has none)

    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(int(backbone.feature_dim), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.backbone(x).flatten(1)))


def video_probabilities(clip_probs: np.ndarray) -> np.ndarray:
    """``(N, clips, C)`` clip softmaxes -> ``(N, C)`` video scores: their mean."""
    return np.asarray(clip_probs).mean(axis=1)


def ten_clip_accuracy(clip_probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Video-level top-1 (argmax of the mean softmax), video-level top-5, clip-level top-1."""
    clip_probs = np.asarray(clip_probs)
    labels = np.asarray(labels, dtype=np.int64)
    n, c, k = clip_probs.shape
    if n == 0:
        return {"video_top1": 0.0, "video_top5": 0.0, "clip_top1": 0.0}
    video = video_probabilities(clip_probs)
    top5 = np.argsort(-video, axis=1)[:, : min(5, k)]
    return {
        "video_top1": float((video.argmax(1) == labels).mean()),
        "video_top5": float((top5 == labels[:, None]).any(1).mean()),
        "clip_top1": float((clip_probs.argmax(2) == labels[:, None]).mean()),
    }


def predict_clips(
    model: nn.Module,
    source: Any,
    cfg: Config,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Softmax of ``finetune.test_clips`` uniformly spaced clips of every video.

    Returns ``(clip_probs (N, clips, C), labels (N,), skipped video paths)``; videos that could
    not be decoded have no row.
    """
    ft = cfg.finetune
    probs, keep, skipped = run_over_clips(
        model, lambda x: torch.softmax(model(x).float(), dim=1), source, cfg,
        clips=ft.test_clips, clip_len=ft.clip_len, step=ft.clip_step, device=device,
        batch_size=max(cfg.eval.batch_size, ft.test_clips), progress=progress, desc="test",
    )
    labels = np.array([source.records[i].label for i in keep], dtype=np.int64)
    return probs, labels, skipped


def evaluate_recognition(
    model: nn.Module,
    source: Any,
    cfg: Config,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """10-clip testing of a classifier on ``source``: accuracies plus counts, JSON-ready."""
    probs, labels, skipped = predict_clips(model, source, cfg, device=device, progress=progress)
    return {
        **ten_clip_accuracy(probs, labels),
        "test_clips": cfg.finetune.test_clips,
        "num_test_videos": int(len(labels)),
        "skipped_test_videos": skipped,
    }
