"""Single-frame probe: how much of a data set's class one still frame tells (its scene bias).

Why: in real action sets the scene and objects go with the action, and the field measures it as
the accuracy of a classifier that sees one frame (on UCF101 a single-frame ImageNet network
reaches about 73 %, Simonyan & Zisserman 2014's spatial stream, against 1 % chance). A
synthetic benchmark that claims to carry that property has to report the same kind of number,
so this module measures it for any labelled ``VideoSource``, synthetic or real.

Protocol: each video's middle frame, area-resized to ``size`` x ``size`` RGB in [0, 1]; its
features are either the raw pixels (``kind="pixels"``) or the pooled activations of a fixed,
randomly initialised 2D CNN (``kind="random2d"``: three 3x3 conv + ReLU + 2x2 max-pool stages
of 32-64-128 channels, global average and max pooling, 256 numbers); the logistic regression of
:func:`vidssl.eval.probe.probe_features` is fitted on ``train`` and scored on ``test``. Neither
feature can see motion, so accuracy above chance is appearance alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidssl.data.records import VideoSource
from vidssl.eval.features import FeatureSet
from vidssl.eval.probe import probe_features

KINDS = ("pixels", "random2d")


def middle_frames(source: VideoSource, size: int = 32) -> torch.Tensor:
    """The middle frame of every video of ``source``: float ``(N, 3, size, size)`` in [0, 1]."""
    frames = []
    for i in range(len(source.records)):
        video = source.open(i)
        frame = video.frames([video.num_frames // 2])[0]  # uint8 (H, W, 3)
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0
        mode = "area" if min(x.shape[-2:]) >= size else "bilinear"
        frames.append(F.interpolate(x, size=(size, size), mode=mode))
    return torch.cat(frames) if frames else torch.zeros(0, 3, size, size)


def random_2d_net(seed: int = 0) -> nn.Module:
    """The fixed random 2D CNN of ``kind="random2d"`` (weights from ``seed``, eval mode)."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        channels = 3
        for width in (32, 64, 128):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        net = nn.Sequential(*layers)
    finally:
        torch.random.set_rng_state(state)
    return net.eval()


@torch.no_grad()
def frame_features(frames: torch.Tensor, kind: str = "pixels", seed: int = 0) -> np.ndarray:
    """Features ``(N, D)`` of ``frames`` ``(N, 3, H, W)``: raw pixels or random-CNN pooling."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "pixels":
        return frames.flatten(1).numpy()
    fmap = random_2d_net(seed)(frames)
    return torch.cat([fmap.mean((2, 3)), fmap.amax((2, 3))], 1).numpy()


def single_frame_probe(
    train: VideoSource, test: VideoSource, *, kind: str = "pixels", size: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Accuracy of a linear classifier on one frame per video: fit on ``train``, score on
    ``test`` (plus the chance level, one over the number of classes)."""
    sets = []
    for source in (train, test):
        feats = frame_features(middle_frames(source, size), kind, seed)
        sets.append(FeatureSet(feats[:, None], source.labels, [r.path for r in source.records],
                               classes=list(source.classes), feature=f"frame-{kind}"))
    result = probe_features(sets[0], sets[1], seed=seed)
    result["kind"] = kind
    result["chance"] = 1.0 / max(len(train.classes), 1)
    return result


__all__ = ["KINDS", "frame_features", "middle_frames", "random_2d_net", "single_frame_probe"]
