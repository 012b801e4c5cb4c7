"""The Python API: load a trained encoder and embed videos with it.

::

    import vidssl

    enc = vidssl.load_encoder("runs/r3d/checkpoint.pt")          # GPU when there is one
    v = enc.embed("videos/jump.mp4")                               # (D,) one video
    V = enc.embed(["a.mp4", "frames/b/"], level="clip")            # (2, clips, D)
    f = enc.embed(enc.transform(frames_uint8_THW3)[None])          # (1, D) prepared clips

Why a class around the backbone: a feature is only comparable with the numbers vidssl reports
when it is computed by the same evaluation protocol (DESIGN 7): ``eval.clips`` clips of
``eval.clip_len`` frames ``eval.clip_step`` apart, spread uniformly over the video, resized and
centre-cropped as the checkpoint's data were, the backbone in eval mode, and a video's feature
the mean of its clips'. :class:`Encoder` keeps the backbone together with the config that fixes
that protocol and runs it through the one pass that ``vidssl extract`` (built on this class),
retrieval and the linear probe share (:func:`vidssl.eval.features.extract_features`), so the
same checkpoint and videos give the same numbers from Python and from the command line.

Errors a caller can make raise the project's error types with one message: a missing
checkpoint or video :class:`FileNotFoundError`; a file that is not a vidssl checkpoint
:class:`~vidssl.train.checkpoint.CheckpointError` (a ``ValueError``); a video that cannot be
decoded :class:`~vidssl.data.video.VideoError`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from vidssl.config import Config
from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.video import ArrayVideo, VideoError, open_video
from vidssl.devices import resolve_device
from vidssl.eval.features import FEATURES, clip_features, eval_transform, extract_features
from vidssl.train.checkpoint import (
    CheckpointError,
    checkpoint_backbone,
    checkpoint_config,
    checkpoint_head,
    load_checkpoint,
)

if TYPE_CHECKING:
    from vidssl.data.records import VideoRecord, VideoSource
    from vidssl.data.transforms import ClipTransform
    from vidssl.data.video import Video
    from vidssl.eval.features import FeatureSet

#: One video: a file, a frame folder, or its decoded frames as uint8 ``(T, H, W, 3)``.
VideoLike = str | os.PathLike[str] | np.ndarray | torch.Tensor

LEVELS = ("video", "clip")


@dataclass
class _Opener:
    """Opens a record: decoded-frame arrays by their name, a video already opened (to check
    it) by its path, the first time only, everything else from disk.

    A dataclass (not a closure) so the source pickles into DataLoader workers (``opened``
    must then be empty: an open file does not cross processes)."""

    frame_pattern: str = ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    opened: dict[str, Video] = field(default_factory=dict)

    def __call__(self, record: VideoRecord) -> Video:

        if record.path in self.arrays:
            return ArrayVideo(self.arrays[record.path], path=record.path)
        if record.path in self.opened:  # handed over once: closed when the reader drops it
            return self.opened.pop(record.path)
        return open_video(record.path, self.frame_pattern)


def _frames_array(item: np.ndarray | torch.Tensor, i: int) -> np.ndarray:
    arr = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3 or len(arr) == 0:
        raise ValueError(
            f"video {i}: decoded frames must be uint8 (T, H, W, 3) with T >= 1; got "
            f"{arr.dtype} {tuple(arr.shape)} (a float tensor is taken as prepared clips only "
            "when it is passed alone, not in a list)"
        )
    return arr


def _is_single_video(videos: Any) -> bool:
    return isinstance(videos, (str, os.PathLike, np.ndarray, torch.Tensor))


class Encoder:
    """A trained backbone with the evaluation protocol of its checkpoint.

    Attributes: ``backbone`` (eval mode, on ``device``), ``config`` (the experiment config
    stored in the checkpoint: ``data.resize`` / ``data.crop`` / ``data.input`` and the
    ``eval`` section define the protocol), ``device``, ``checkpoint`` (the path it was loaded
    from, or ``None``), ``head`` / ``head_output`` (the checkpoint's projection head,
    ``"projection"``, or fine-tuned classifier, ``"logits"``; ``None`` / ``""`` when it has
    neither; kept on the CPU, where :meth:`embed` returns features; used by
    :func:`vidssl.export_encoder`).
    """

    def __init__(
        self,
        backbone: nn.Module,
        config: Config,
        *,
        device: str | torch.device = "auto",
        checkpoint: str | os.PathLike[str] | None = None,
        head: nn.Module | None = None,
        head_output: str = "",
    ) -> None:

        self.device = device if isinstance(device, torch.device) else resolve_device(str(device))
        self.backbone = backbone.eval().to(self.device)
        self.config = config
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.head = head.eval() if head is not None else None
        self.head_output = head_output if head is not None else ""

    def __repr__(self) -> str:
        m = self.config.model
        return (f"Encoder({m.backbone}, width={m.width}, feature_dim={self.feature_dim}, "
                f"clip={self.clip_shape}, device={self.device}, checkpoint={self.checkpoint})")

    @property
    def transform(self) -> ClipTransform:
        """The evaluation transform: uint8 frames ``(T, H, W, 3)`` -> a prepared clip
        ``(3, T, crop, crop)`` (resize, centre crop, normalise; no augmentation)."""

        return eval_transform(self.config)

    @property
    def feature_dim(self) -> int:
        """Size of the pooled feature (``feature="pool"``, the default)."""
        return int(self.backbone.feature_dim)

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        """``(channels, frames, height, width)`` of one prepared clip of the protocol."""
        channels = int(self.config.model.backbone_args.get("in_channels", 3))
        crop = int(self.config.data.crop)
        return channels, int(self.config.eval.clip_len), crop, crop

    def embed(
        self,
        videos: VideoLike | Sequence[VideoLike],
        *,
        level: str = "video",
        feature: str | None = None,
        clips: int | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """Features of one video, a list of videos, or prepared clips; float32, on the CPU.

        ``videos``: a video file or frame folder path, or decoded uint8 frames ``(T, H, W, 3)``
        (numpy or torch) -> ``(D,)`` (``level="video"``: the mean over the clips) or
        ``(clips, D)`` (``level="clip"``); a list of those -> ``(N, D)`` or ``(N, clips, D)``
        in the list's order. A *float* tensor is taken as already prepared clips (what
        :attr:`transform` returns): ``(C, T, H, W)`` -> ``(D,)``, ``(B, C, T, H, W)`` ->
        ``(B, D)``; ``level`` does not apply to it.

        ``feature``: ``"pool"`` (default ``eval.feature``) or ``"conv5"`` (VCOP's retrieval
        feature). ``clips``: clips per video (default ``eval.clips``). ``batch_size``: clips
        per forward pass (default ``eval.batch_size``). ``num_workers``: decoding processes
        (default ``data.num_workers``; none for a single video). Raises
        :class:`FileNotFoundError` for a missing path and
        :class:`~vidssl.data.video.VideoError` for a video that cannot be decoded; use
        :meth:`features` to skip such videos instead.
        """
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
        if isinstance(videos, torch.Tensor) and videos.is_floating_point():
            return self._embed_clips(videos, feature, batch_size)
        single = _is_single_video(videos)
        items = [videos] if single else list(videos)  # type: ignore[arg-type]
        if not items:
            raise ValueError("no videos to embed")
        if num_workers is None and len(items) == 1:
            num_workers = 0
        # one video decoded here: the file opened to check it is the one decoded (opening a
        # video reads its header and decodes its first frames; some, all of them to count)
        source = self._source(items, check=True, keep_open=len(items) == 1 and num_workers == 0)
        feats = self.features(source, feature=feature, clips=clips, batch_size=batch_size,
                              num_workers=num_workers, progress=progress,
                              skip_unreadable=False)
        out = torch.from_numpy(feats.features if level == "clip" else feats.video_level())
        return out[0] if single else out

    def features(
        self,
        videos: VideoSource | Sequence[VideoLike],
        *,
        feature: str | None = None,
        clips: int | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
        progress: bool = False,
        desc: str = "features",
        skip_unreadable: bool = True,
    ) -> FeatureSet:
        """Per-clip features of many videos with their paths, for data-set scale work.

        ``videos``: a list as for :meth:`embed`, or a :class:`~vidssl.data.records.VideoSource`
        (labels and class names are kept). Videos that cannot be decoded are left out with a
        warning and listed in ``FeatureSet.skipped`` (``skip_unreadable=False``: raise
        :class:`~vidssl.data.video.VideoError` instead). This is what ``vidssl extract``
        writes; :meth:`~vidssl.eval.features.FeatureSet.save` writes it the same way.
        """

        if not isinstance(videos, VideoSource):
            videos = self._source(list(videos), check=not skip_unreadable)
        with warnings.catch_warnings(record=not skip_unreadable) as caught:
            feats = extract_features(
                self.backbone, videos, self.config, feature=feature, clips=clips,
                device=self.device, batch_size=batch_size, num_workers=num_workers,
                progress=progress, desc=desc,
            )
        if not skip_unreadable and feats.skipped:
            more = f" (and {len(feats.skipped) - 1} more)" if len(feats.skipped) > 1 else ""
            raise VideoError(feats.skipped[0], f"could not be decoded{more}")
        for w in caught or []:  # warnings unrelated to skipping go on to the caller
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return feats

    def _source(self, items: list[Any], check: bool, keep_open: bool = False) -> VideoSource:
        """A VideoSource over paths and decoded-frame arrays. ``check``: open each file now,
        so a missing or undecodable one is named before any work is done. ``keep_open``: the
        source decodes the videos opened by the check instead of opening them again (for one
        video decoded in this process; a list's are closed after their check, so that a list
        of thousands never holds thousands of files open)."""

        fp = self.config.data.frame_pattern
        records, arrays, opened = [], {}, {}
        for i, item in enumerate(items):
            if isinstance(item, (str, os.PathLike)):
                path = os.fspath(item)
                if not os.path.exists(path):
                    raise FileNotFoundError(f"video not found: {path}")
                if check:
                    video = open_video(path, fp)
                    close = getattr(video, "close", None)
                    if keep_open:
                        opened[path] = video
                    elif close is not None:
                        close()
                records.append(VideoRecord(path))
            elif isinstance(item, (np.ndarray, torch.Tensor)):
                name = f"<frames {i}>"
                arrays[name] = _frames_array(item, i)
                records.append(VideoRecord(name))
            else:
                raise TypeError(
                    f"video {i}: expected a path or uint8 frames (T, H, W, 3); got "
                    f"{type(item).__name__}"
                )
        opener = _Opener(fp, arrays, opened) if arrays or opened else None
        return VideoSource(records, [], fp, opener=opener, name="embed")

    def _embed_clips(
        self, x: torch.Tensor, feature: str | None, batch_size: int | None
    ) -> torch.Tensor:

        if x.ndim not in (4, 5):
            raise ValueError(
                f"prepared clips must be (C, T, H, W) or (B, C, T, H, W); got {tuple(x.shape)}"
            )
        feature = feature or self.config.eval.feature
        if feature not in FEATURES:
            raise ValueError(f"feature must be one of {', '.join(FEATURES)}; got {feature}")
        single = x.ndim == 4
        batch = x[None] if single else x
        step = max(1, int(batch_size or self.config.eval.batch_size))
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            with torch.inference_mode():
                out = [
                    clip_features(self.backbone, batch[i : i + step].to(self.device).float(),
                                  feature).float().cpu()
                    for i in range(0, len(batch), step)
                ]
        finally:
            self.backbone.train(was_training)
        result = torch.cat(out) if out else torch.zeros(0, self.feature_dim)
        return result[0] if single else result


def load_encoder(
    checkpoint: str | os.PathLike[str], device: str | torch.device = "auto"
) -> Encoder:
    """The encoder of a pretraining or fine-tuning checkpoint, ready to :meth:`~Encoder.embed`.

    ``device``: ``"auto"`` (the first GPU when there is one, else the CPU), ``"cpu"``,
    ``"cuda"`` or ``"cuda:N"``. The checkpoint is read with ``weights_only=True`` (no code in
    it runs). Raises :class:`FileNotFoundError` when it does not exist and
    :class:`~vidssl.train.checkpoint.CheckpointError` when it is not a vidssl checkpoint or
    its weights do not fit the backbone its config names.
    """

    ckpt = load_checkpoint(checkpoint)
    cfg = checkpoint_config(ckpt, checkpoint)
    backbone = checkpoint_backbone(ckpt, cfg, checkpoint)
    try:
        head, head_output = checkpoint_head(ckpt, checkpoint)
    except CheckpointError:
        head, head_output = None, ""
    return Encoder(backbone, cfg, device=device, checkpoint=checkpoint, head=head,
                   head_output=head_output)
