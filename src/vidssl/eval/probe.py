"""Linear probe: a logistic regression on frozen, video-level backbone features.

The features are retrieval's (the mean of ``eval.clips`` clip features per video, backbone in
eval mode), standardised with statistics of the training split only, then scikit-learn's
``LogisticRegression`` (multinomial, L-BFGS). It measures how linearly separable the classes are
in the representation without the fine-tuning budget, which is what the CPU demo can afford.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from vidssl.config import Config
from vidssl.eval.features import FeatureSet, features_for_split


def probe_features(
    train: FeatureSet,
    test: FeatureSet,
    *,
    C: float = 1.0,
    max_iter: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit on ``train`` video features, score on ``test``: accuracy and counts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(train) == 0 or len(test) == 0:
        raise ValueError("linear probe needs at least one train and one test video")
    if len(np.unique(train.labels)) < 2:
        raise ValueError("linear probe needs at least two classes in the training split")
    if (train.labels < 0).any() or (test.labels < 0).any():
        raise ValueError("linear probe needs labelled videos (a label is -1)")
    clf = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=C, max_iter=max_iter, random_state=seed),
    )
    clf.fit(train.video_level(), train.labels)
    pred = clf.predict(test.video_level())
    return {
        "accuracy": float((pred == test.labels).mean()),
        "train_accuracy": float(clf.score(train.video_level(), train.labels)),
        "C": C,
        "feature": train.feature,
        "feature_dim": train.dim,
        "clips_per_video": int(train.features.shape[1]),
        "num_train_videos": len(train),
        "num_test_videos": len(test),
        "skipped_train_videos": list(train.skipped),
        "skipped_test_videos": list(test.skipped),
    }


def linear_probe(
    backbone: nn.Module | None,
    cfg: Config,
    *,
    train_features: FeatureSet | None = None,
    test_features: FeatureSet | None = None,
    train_source: Any = None,
    test_source: Any = None,
    feature: str | None = None,
    C: float = 1.0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Linear probe of ``backbone`` on ``cfg.data`` (train split fits, test split scores).

    Pass ``train_features`` / ``test_features`` (from ``extract_features``) to reuse features
    already computed for retrieval; otherwise they are extracted here."""
    feature = feature or cfg.eval.feature
    train, _ = features_for_split(backbone, cfg, "train", train_features, train_source, feature,
                             device, progress)
    test, _ = features_for_split(backbone, cfg, "test", test_features, test_source, feature,
                            device, progress)
    return probe_features(train, test, C=C, seed=cfg.train.seed)
