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

from vidssl.config import Config, ConfigError, config_from_dict

FORMAT = "vidssl-checkpoint-v1"


class CheckpointError(ConfigError):
    """A file given as a checkpoint is not a usable vidssl checkpoint (damaged, another
    program's, or missing the entries asked for). A ``ConfigError`` (so a ``ValueError``): the
    user named the wrong file, and the command line reports it in one line with exit code 2."""


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
        raise CheckpointError(
            f"{path}: not a readable vidssl checkpoint ({_load_failure(exc)})"
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path}: not a vidssl checkpoint (top level is {type(obj).__name__})"
        )
    return obj


def _load_failure(exc: Exception) -> str:
    """torch.load's reason in one line, without its advice to retry with weights_only=False
    (wrong advice for a file that may be hostile)."""
    text = str(exc).strip()
    if isinstance(exc, EOFError):
        return "the file ends early: empty or truncated"
    if not text:
        return type(exc).__name__
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0]
        return f"not a torch.save file of tensors and plain data: {detail}"
    return text.split(" In PyTorch 2.6", 1)[0].splitlines()[0]


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
        raise CheckpointError(f"{path}: not a vidssl checkpoint (it has no 'config' entry)")
    return config_from_dict(ckpt["config"])


def load_backbone(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, Config]:
    """Build the backbone a checkpoint describes and load its weights (for evaluation).

    Works for pretraining checkpoints and fine-tuning checkpoints alike: both store the
    backbone's state_dict under ``backbone`` and the config under ``config``.
    """
    ckpt = load_checkpoint(path)
    cfg = checkpoint_config(ckpt, path)
    return checkpoint_backbone(ckpt, cfg, path).to(device).eval(), cfg


def checkpoint_backbone(
    ckpt: dict[str, Any], cfg: Config, path: str | Path = ""
) -> torch.nn.Module:
    """The backbone ``cfg.model`` describes, with the weights stored under ``backbone``."""
    from vidssl.models.backbones import build_backbone

    if "backbone" not in ckpt:
        raise CheckpointError(f"{path}: checkpoint has no 'backbone' weights")
    backbone = build_backbone(cfg.model.backbone, width=cfg.model.width, **cfg.model.backbone_args)
    try:
        backbone.load_state_dict(ckpt["backbone"])
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[:2]
        raise CheckpointError(
            f"{path}: the 'backbone' weights do not fit model.backbone={cfg.model.backbone} "
            f"width={cfg.model.width} ({' '.join(first)})"
        ) from exc
    return backbone


def checkpoint_head(ckpt: dict[str, Any], path: str | Path = "") -> tuple[torch.nn.Module, str]:
    """The head stored in a checkpoint's ``model`` weights, and the name of its output.

    A pretraining checkpoint with a contrastive term holds the MoCo projection head
    (``moco.projection.*``, output ``"projection"``, not normalised); a fine-tuning checkpoint
    holds the classifier (``classifier.*``, output ``"logits"``). Shapes are read from the weights,
    so the head is rebuilt exactly as trained whatever the config says.
    """
    from torch import nn

    from vidssl.models.heads import ProjectionHead

    model = ckpt.get("model")
    if not isinstance(model, dict):
        raise CheckpointError(f"{path}: checkpoint has no 'model' weights to take a head from")
    if "classifier.weight" in model:
        w = model["classifier.weight"]
        head: nn.Module = nn.Linear(int(w.shape[1]), int(w.shape[0]))
        head.load_state_dict({"weight": w, "bias": model["classifier.bias"]})
        return head.eval(), "logits"
    # ``moco.projection.``: the MoCo component; ``projection.``: checkpoints written before it
    for prefix in ("moco.projection.", "projection."):
        if prefix + "net.0.weight" in model:
            first, last = model[prefix + "net.0.weight"], model[prefix + "net.2.weight"]
            proj = ProjectionHead(int(first.shape[1]), int(first.shape[0]), int(last.shape[0]))
            proj.load_state_dict({k[len(prefix):]: v for k, v in model.items()
                                  if k.startswith(prefix)})
            return proj.eval(), "projection"
    raise CheckpointError(
        f"{path}: checkpoint has no projection head or classifier (pretraining with "
        "loss.contrastive=0 builds no projection head)"
    )
