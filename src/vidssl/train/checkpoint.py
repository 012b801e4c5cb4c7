"""Checkpoints that survive a kill and never execute code when read.

Why atomic: a run killed while writing must leave the previous checkpoint intact, so we write to
a temporary file in the same directory, flush it to disk and ``os.replace`` it over the target
(an atomic rename on POSIX). Why ``weights_only=True``: a checkpoint is data; loading one must
not run code from it, so everything we store is tensors, numbers, strings, lists and dicts.

Layout of a pretraining checkpoint (a plain dict):
``format``, ``config`` (the experiment config as a dict), ``backbone`` (the query backbone's
state_dict, what evaluation reads), ``model`` (the whole pretext model: heads, key encoder,
queue), ``optimizer``, ``scheduler``, ``epoch`` (completed epochs), ``step`` (optimizer steps
done), ``epoch_step`` (steps done inside the current epoch, for a mid-epoch resume), ``rng``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from vidssl.config import Config, config_from_dict

FORMAT = "vidssl-checkpoint-v1"


def save_checkpoint(obj: dict[str, Any], path: str | Path) -> Path:
    """Write ``obj`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without executing code from it (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise ValueError(f"{path}: not a readable vidssl checkpoint ({exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a vidssl checkpoint (top level is {type(obj).__name__})")
    return obj


def rng_state() -> dict[str, Any]:
    """Torch RNG states (CPU and every CUDA device) as tensors, for an exact resume."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def checkpoint_config(ckpt: dict[str, Any], path: str | Path = "") -> Config:
    """The experiment config stored in a checkpoint."""
    if "config" not in ckpt:
        raise ValueError(f"{path}: checkpoint has no 'config' entry")
    return config_from_dict(ckpt["config"])


def load_backbone(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, Config]:
    """Build the backbone a checkpoint describes and load its weights (for evaluation).

    Works for pretraining checkpoints and fine-tuning checkpoints alike: both store the
    backbone's state_dict under ``backbone`` and the config under ``config``.
    """
    from vidssl.models.backbones import build_backbone

    ckpt = load_checkpoint(path)
    cfg = checkpoint_config(ckpt, path)
    if "backbone" not in ckpt:
        raise ValueError(f"{path}: checkpoint has no 'backbone' weights")
    backbone = build_backbone(cfg.model.backbone, width=cfg.model.width, **cfg.model.backbone_args)
    backbone.load_state_dict(ckpt["backbone"])
    return backbone.to(device).eval(), cfg
