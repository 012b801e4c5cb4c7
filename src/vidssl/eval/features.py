"""Frozen-backbone features for every video of a source: the one pass shared by retrieval, linear
probe, t-SNE and ``vidssl extract``.

Why one pass: decoding is the slow part of evaluation, and the demo evaluates retrieval, probe
and t-SNE on the same network; :func:`extract_features` decodes each video's clips once (through
``MultiClipDataset``) and returns a :class:`FeatureSet` ``(N_videos, clips, D)`` that all three
consume. The backbone runs in eval mode (BatchNorm uses its stored statistics), so a random-init
baseline is measured exactly like a pretrained one (FINDINGS: recomputing BN statistics on the
data moved random-init numbers by up to 10 points).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vidssl.config import Config
from vidssl.data.datasets import MultiClipDataset
from vidssl.data.layouts import build_source, data_workers
from vidssl.data.transforms import ClipTransform
from vidssl.devices import resolve_device
from vidssl.errors import DataError
from vidssl.models.backbones import build_backbone
from vidssl.progress import progress as progress_bar

FEATURES = ("pool", "conv5")


@dataclass
class FeatureSet:
    """Per-clip features of a list of videos.

    ``features`` is float32 ``(N_videos, clips, D)``; row ``i`` belongs to ``paths[i]`` with
    label ``labels[i]`` (``-1`` when unlabeled). ``skipped`` lists videos that could not be
    decoded and therefore have no row.
    """

    features: np.ndarray
    labels: np.ndarray
    paths: list[str]
    classes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    feature: str = "pool"
    source_index: np.ndarray | None = None  # row -> index of the video in its VideoSource

    def __post_init__(self) -> None:
        self.features = np.asarray(self.features, dtype=np.float32)
        if self.features.ndim != 3:
            raise ValueError(f"features must be (videos, clips, D); got {self.features.shape}")
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(self.features) or len(self.paths) != len(self.features):
            raise ValueError("features, labels and paths must have one row per video")
        if self.source_index is None:
            self.source_index = np.arange(len(self.features), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def dim(self) -> int:
        return int(self.features.shape[2])

    def video_level(self) -> np.ndarray:
        """One vector per video: the mean of its clip features (DESIGN section 7)."""
        return self.features.mean(axis=1)

    def clip_level(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every clip as its own item: ``(X (N*clips, D), labels, video row of each clip)``."""
        n, c, d = self.features.shape
        video = np.repeat(np.arange(n, dtype=np.int64), c)
        return self.features.reshape(n * c, d), self.labels[video], video

    def save(self, path: str | Path, per_clip: bool = True) -> dict[str, Path]:
        """Write the features as .npy files plus a JSON index; return the paths written.

        ``<stem>.npy``: video-level features ``(N, D)`` (the mean over clips);
        ``<stem>.clips.npy`` (with ``per_clip``): ``(N, clips, D)``; ``<stem>.json``: one
        entry per row (``row``, ``path``, ``label``), the class names and the skipped videos.
        """
        path = Path(path)
        stem = path.with_suffix("") if path.suffix == ".npy" else path
        stem.parent.mkdir(parents=True, exist_ok=True)
        written = {"video": stem.with_name(stem.name + ".npy")}
        np.save(written["video"], self.video_level().astype(np.float32))
        if per_clip:
            written["clips"] = stem.with_name(stem.name + ".clips.npy")
            np.save(written["clips"], self.features)
        index = {
            "video_features": written["video"].name,
            "clip_features": written["clips"].name if per_clip else None,
            "shape": list(self.features.shape),
            "feature": self.feature,
            "classes": list(self.classes),
            "videos": [
                {"row": i, "path": p, "label": int(y)}
                for i, (p, y) in enumerate(zip(self.paths, self.labels, strict=True))
            ],
            "skipped": list(self.skipped),
        }
        written["index"] = stem.with_name(stem.name + ".json")
        written["index"].write_text(json.dumps(index, indent=1))
        return written

    @classmethod
    def load(cls, path: str | Path) -> FeatureSet:
        """Read what :meth:`save` wrote (pass the .npy or the .json path). Without the
        per-clip file, each video's feature is one "clip"."""
        path = Path(path)
        stem = path
        for suffix in (".clips.npy", ".npy", ".json"):
            if path.name.endswith(suffix):
                stem = path.with_name(path.name[: -len(suffix)])
                break
        index = json.loads(stem.with_name(stem.name + ".json").read_text())
        if index.get("clip_features"):
            feats = np.load(stem.parent / index["clip_features"], allow_pickle=False)
        else:
            feats = np.load(stem.parent / index["video_features"], allow_pickle=False)[:, None]
        videos = index["videos"]
        return cls(
            features=feats,
            labels=np.array([v["label"] for v in videos], dtype=np.int64),
            paths=[v["path"] for v in videos],
            classes=list(index.get("classes", [])),
            skipped=list(index.get("skipped", [])),
            feature=index.get("feature", "pool"),
        )


def random_backbone(cfg: Config) -> nn.Module:
    """The random-init baseline: the config's backbone with weights drawn from a fixed seed
    (``train.seed``), so two runs of the baseline evaluate the same network."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(cfg.train.seed)
        backbone = build_backbone(
            cfg.model.backbone, width=cfg.model.width, **cfg.model.backbone_args
        )
    finally:
        torch.random.set_rng_state(state)
    return backbone.eval()


def eval_transform(cfg: Config) -> Any:
    """Resize + center crop, no jitter or flip: the evaluation view of a clip (DESIGN 6)."""
    return ClipTransform.from_config(cfg.data, train=False)  # jitter and flip: train only


def conv5_to_vector(fmap: torch.Tensor) -> torch.Tensor:
    """VCOP's conv5 retrieval feature: max-pool (1, 2, 2) over the conv5 map, then flatten.

    A map smaller than 2 pixels on a side (tiny CPU inputs) is pooled with what it has."""
    kh = min(2, fmap.shape[-2])
    kw = min(2, fmap.shape[-1])
    pooled = torch.nn.functional.max_pool3d(fmap, kernel_size=(1, kh, kw), stride=(1, kh, kw))
    return pooled.flatten(1)


def clip_features(backbone: nn.Module, clips: torch.Tensor, feature: str = "pool") -> torch.Tensor:
    """``(B, 3, T, H, W)`` -> ``(B, D)``: the pooled output, or VCOP's conv5 feature."""
    if feature == "pool":
        return backbone(clips).flatten(1)
    if feature == "conv5":
        return conv5_to_vector(backbone.forward_features(clips))
    raise ValueError(f"feature must be one of {', '.join(FEATURES)}; got {feature}")


def _batches(loader: DataLoader, progress: bool, desc: str) -> Iterator[dict[str, Any]]:
    yield from progress_bar(loader, desc=desc, disable=not progress, unit="batch")


def run_over_clips(
    module: nn.Module,
    fn: Callable[[torch.Tensor], torch.Tensor],
    source: Any,
    cfg: Config,
    *,
    clips: int,
    clip_len: int,
    step: int,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    progress: bool = True,
    desc: str = "clips",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Apply ``fn`` to ``clips`` evaluation clips of every video in ``source``.

    ``fn`` maps a batch of clips ``(B, 3, T, H, W)`` (already on the device) to ``(B, D)``.
    Returns ``(out (N_kept, clips, D) float32, kept source indices, skipped video paths)``.
    ``module`` is put in eval mode on the device for the pass and restored afterwards.
    ``batch_size`` (default ``eval.batch_size``) counts clips per forward pass, rounded down to
    whole videos (at least one). Each video's clips are decoded once, by the loader workers.
    """
    if len(source) == 0:
        raise DataError(f"{getattr(source, 'name', '') or 'the data set'}: no videos "
                        "(check data.dataset and data.root)")
    dev = torch.device(device) if device is not None else resolve_device(cfg.train.device)
    per_batch = max(1, int(batch_size or cfg.eval.batch_size) // clips)
    workers = data_workers(cfg.data, dev, num_workers)
    dataset = MultiClipDataset(
        source, eval_transform(cfg), clips=clips, clip_len=clip_len, step=step
    )
    loader = DataLoader(
        dataset, batch_size=per_batch, shuffle=False, num_workers=workers,
        pin_memory=dev.type == "cuda",
    )
    n = len(dataset)
    out_all: np.ndarray | None = None
    got = np.zeros(n, dtype=bool)
    was_training = module.training
    param = next(module.parameters(), None)
    original_device = param.device if param is not None else torch.device("cpu")
    module.eval().to(dev)
    position = 0
    try:
        with torch.inference_mode():
            for batch in _batches(loader, progress, desc):
                x = batch["clips"]  # (B, clips, 3, T, H, W)
                b = x.shape[0]
                out = fn(x.flatten(0, 1).to(dev, non_blocking=True))
                out = out.float().reshape(b, x.shape[1], -1).cpu().numpy()
                if out_all is None:
                    out_all = np.zeros((n, clips, out.shape[2]), dtype=np.float32)
                # A video that failed to decode comes back as another video (the dataset's
                # replacement): its row is the one whose ``index`` differs from the position.
                returned = batch["index"].numpy()
                for j in range(b):
                    if returned[j] == position + j:
                        out_all[position + j] = out[j]
                        got[position + j] = True
                position += b
    finally:
        module.train(was_training)
        module.to(original_device)
    if out_all is None:
        out_all = np.zeros((0, clips, 0), dtype=np.float32)
    keep = np.flatnonzero(got)
    skipped = [str(source.records[i].path) for i in np.flatnonzero(~got)]
    if skipped:
        warnings.warn(
            f"{len(skipped)} of {n} videos could not be decoded and were left out: "
            + ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""),
            stacklevel=3,
        )
    return out_all[keep], keep.astype(np.int64), skipped


def extract_features(
    backbone: nn.Module,
    source: Any,
    cfg: Config,
    *,
    feature: str | None = None,
    clips: int | None = None,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    progress: bool = True,
    desc: str = "features",
) -> FeatureSet:
    """Features of every video in ``source`` (a ``VideoSource``), ``clips`` per video.

    Clips are ``eval.clip_len`` frames at step ``eval.clip_step``, centred uniformly over the
    video (``uniform_clip_indices``), centre-cropped. Videos the loader could not decode are
    dropped from the result and listed in ``skipped``.
    """
    feature = feature or cfg.eval.feature
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {', '.join(FEATURES)}; got {feature}")
    clips = int(clips or cfg.eval.clips)
    feats, keep, skipped = run_over_clips(
        backbone, lambda x: clip_features(backbone, x, feature), source, cfg,
        clips=clips, clip_len=cfg.eval.clip_len, step=cfg.eval.clip_step, device=device,
        batch_size=batch_size, num_workers=num_workers, progress=progress, desc=desc,
    )
    records = source.records
    return FeatureSet(
        features=feats,
        labels=np.array([records[i].label for i in keep], dtype=np.int64),
        paths=[str(records[i].path) for i in keep],
        classes=list(getattr(source, "classes", []) or []),
        skipped=skipped,
        feature=feature,
        source_index=keep,
    )


def features_for_split(
    backbone: nn.Module | None, cfg: Config, split: str, given: FeatureSet | None, source: Any,
    feature: str, device: Any, progress: bool,
) -> tuple[FeatureSet, Any]:
    """``given`` features of ``split``, else the backbone's features of its videos (the
    source given, else the configured data set's): what retrieval and the probe both start
    from."""
    if given is not None:
        return given, source
    if backbone is None:
        raise ValueError("evaluate_retrieval needs a backbone or precomputed features")
    source = source if source is not None else build_source(cfg.data, split)
    feats = extract_features(backbone, source, cfg, feature=feature, device=device,
                             progress=progress, desc=f"{split} features")
    return feats, source
