"""10-clip testing: the video prediction is the mean of the clip softmaxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.sampling import uniform_clip_indices
from vidssl.data.transforms import DEFAULT_MEAN, DEFAULT_STD
from vidssl.data.video import ArrayVideo
from vidssl.eval.recognition import predict_clips, ten_clip_accuracy


def test_video_prediction_is_mean_of_clip_softmax_not_majority_vote():
    # One confident clip for class 0 outweighs two lukewarm clips for class 1.
    probs = np.array([[[0.9, 0.1], [0.45, 0.55], [0.45, 0.55]]])
    res = ten_clip_accuracy(probs, np.array([0]))
    assert res["video_top1"] == 1.0
    assert res["clip_top1"] == pytest.approx(1 / 3)


def _p_class0(frame_index: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(frame_index - 30.0) / 6.0))


class FrameIndexModel(nn.Module):
    """Reads the clip's mean frame index back from the pixels (frame t has value t) and
    outputs logits whose softmax is ``[p(t), 1 - p(t)]``: outputs known in advance."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = (x[:, 0].mean(dim=(1, 2, 3)) * DEFAULT_STD[0] + DEFAULT_MEAN[0]) * 255.0
        p = torch.sigmoid((t - 30.0) / 6.0)
        return torch.log(torch.stack([p, 1 - p], dim=1))


def test_ten_clip_testing_averages_known_clip_outputs(tiny_config):
    cfg = tiny_config(**{"finetune.test_clips": 5, "finetune.clip_len": 4})
    lengths = [40, 61, 90]
    videos = [ArrayVideo(np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None],
                                         (n, 32, 32, 3)).copy()) for n in lengths]
    source = VideoSource([VideoRecord(f"v{i}", i % 2) for i in range(3)], ["a", "b"],
                         videos=videos)
    probs, labels, skipped = predict_clips(FrameIndexModel(), source, cfg, device="cpu",
                                           progress=False)
    assert skipped == [] and labels.tolist() == [0, 1, 0]
    assert probs.shape == (3, 5, 2)
    for v, n in enumerate(lengths):
        idx = uniform_clip_indices(n, 4, 1, 5)  # (clips, T) frame indices
        expected = _p_class0(idx.mean(axis=1))
        np.testing.assert_allclose(probs[v, :, 0], expected, atol=1e-3)
    video = probs.mean(axis=1)
    res = ten_clip_accuracy(probs, labels)
    assert res["video_top1"] == pytest.approx(np.mean(video.argmax(1) == labels))
    assert res["clip_top1"] == pytest.approx(np.mean(probs.argmax(2) == labels[:, None]))
