"""Checkpoints that survive a kill and never execute code when read.

Why atomic: a run killed while writing must leave the previous checkpoint intact, so we write to
a temporary file in the same directory, flush it to disk and ``os.replace`` it over the target
(an atomic rename on POSIX). Why ``weights_only=True``: a checkpoint is data; loading one must
not run code from it, so everything we store is tensors, numbers, strings, lists and dicts.

Layout of a pretraining checkpoint (a plain dict):
``format``, ``config`` (the experiment config as a dict), ``backbone`` (the query backbone's
state_dict, what evaluation reads), ``model`` (the whole pretext model: heads, key encoder,
queue), ``optimizer``, ``scheduler``, ``epoch`` (completed epochs), ``step`` (optimizer steps
done), ``epoch_step`` (steps done inside the current epoch, for a mid-epoch resume), ``rng``,
and after a mid-epoch stop ``epoch_metrics`` (the epoch's metric sums so far, so the resumed
epoch logs the means an uninterrupted one would).
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vidssl.config import Config, ConfigError, config_from_dict
from vidssl.errors import CheckpointError, DiskFullError, is_disk_full
from vidssl.models.backbones import build_backbone
from vidssl.models.heads import ProjectionHead
from vidssl.models.view_synthesis import ViewSynthesis, frozen_generator

FORMAT = "vidssl-checkpoint-v1"

# What each command writes, for messages: ``kind`` -> (what it is, the command that made it).
KINDS = {
    "pretrain": ("a pretraining checkpoint", "vidssl pretrain"),
    "finetune": ("a fine-tuning checkpoint", "vidssl finetune"),
    "view": ("a view-synthesis checkpoint", "vidssl pretrain-view"),
}

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
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if is_disk_full(exc):
            raise DiskFullError(
                f"no space left on the device writing {path}; the previous checkpoint (if "
                "any) is intact: free some space and resume") from None
        raise
    return path


def _load_failure(path: Path, exc: BaseException) -> str:
    """Why torch could not read ``path``, in one line, without torch's advice to retry with
    ``weights_only=False`` (wrong advice for a file that may be hostile)."""
    size = path.stat().st_size
    if size == 0:
        return "empty file (0 bytes)"
    if isinstance(exc, pickle.UnpicklingError):
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f" ({found.group(1)})" if found else ""
        return (f"refused: it holds Python objects{what}, not plain tensors and numbers; "
                "vidssl never loads such a file, since loading it could run code from it")
    text = " ".join(str(exc).split())
    if isinstance(exc, EOFError) or "central directory" in text or "failed reading" in text:
        return f"truncated or damaged ({size} bytes): not a complete torch file"
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint without executing code from it (``weights_only=True``).

    ``kind`` ("pretrain", "finetune", "view") refuses a checkpoint of another kind, naming
    what it is and which command reads it.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give the checkpoint file in it "
                              f"(e.g. {path / 'checkpoint.pt'})")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load is the parser of a user's file: any
        # failure in it (RuntimeError, EOFError, UnpicklingError, IndexError from a garbled
        # pickle stack, ...) means the file is damaged or not ours, never a bug of vidssl
        raise CheckpointError(
            f"{path}: not a readable vidssl checkpoint: {_load_failure(path, exc)}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path}: not a vidssl checkpoint (top level is {type(obj).__name__})")
    if kind is not None:
        expect_kind(obj, path, kind)
    return obj


def checkpoint_epoch(path: str | Path) -> int:
    """The epochs a checkpoint has finished (0 when it does not say)."""
    return int(load_checkpoint(path, map_location="cpu").get("epoch", 0))


def checkpoint_kind(ckpt: dict[str, Any]) -> str:
    """``pretrain``, ``finetune``, ``view`` or ``unknown`` (older checkpoints lack ``kind``)."""
    if "kind" in ckpt:
        return str(ckpt["kind"])
    if "generator" in ckpt and "arch" in ckpt:
        return "view"
    if "step" in ckpt and "model" in ckpt and "backbone" in ckpt:
        return "pretrain"
    return "unknown"


def expect_kind(ckpt: dict[str, Any], path: str | Path, kind: str) -> None:
    """Refuse a checkpoint that is not of ``kind``, saying what it is instead."""
    found = checkpoint_kind(ckpt)
    if found == kind:
        return
    want, reader = KINDS[kind]
    what = KINDS[found][0] if found in KINDS else "not a checkpoint vidssl wrote"
    by = f", written by '{KINDS[found][1]}'" if found in KINDS else ""
    raise CheckpointError(f"{path} is {what}{by}; this needs {want} (written by '{reader}')")


def require_keys(ckpt: dict[str, Any], path: str | Path, keys: tuple[str, ...]) -> None:
    """A checkpoint of the right kind with the wrong structure names the missing entry."""
    missing = [k for k in keys if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: damaged checkpoint, no '{missing[0]}' entry")


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
    if not isinstance(ckpt.get("config"), dict):
        raise CheckpointError(f"{path}: not a vidssl checkpoint (it has no 'config' entry)")
    try:
        return config_from_dict(ckpt["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: the checkpoint's config is not valid here: {exc}"
                              ) from None


def load_weights(module: torch.nn.Module, state: Any, path: str | Path, what: str) -> None:
    """``module.load_state_dict(state)``, or one line saying why the weights do not fit
    (another backbone or width than the checkpoint's config claims: a damaged checkpoint)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: damaged checkpoint, '{what}' is not a state dict")
    # parts that changed their saved form bring an older state up to date first (outer module
    # first: it may move keys into a part that then fills in what is new)
    state = dict(state)
    for name, sub in module.named_modules():
        upgrade = getattr(sub, "upgrade_state_dict", None)
        if callable(upgrade):
            upgrade(state, f"{name}." if name else "")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    resized = [k for k in own if k in state and getattr(state[k], "shape", None) is not None
               and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = [f"{len(keys)} {word} (first: {keys[0]})" for keys, word in
                ((missing, "missing"), (unexpected, "unexpected"), (resized, "of another shape"))
                if keys]
    if problems:
        raise CheckpointError(
            f"{path}: the '{what}' weights do not fit the network its config describes "
            f"({'; '.join(problems)}): the file is damaged or was edited")
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:  # e.g. a value that is not a tensor
        first = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), str(exc))
        raise CheckpointError(f"{path}: the '{what}' weights cannot be loaded ({first[:200]})"
                              ) from None


def load_backbone(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, Config]:
    """Build the backbone a checkpoint describes and load its weights (for evaluation).

    Works for pretraining checkpoints and fine-tuning checkpoints alike: both store the
    backbone's state_dict under ``backbone`` and the config under ``config``.
    """
    ckpt = load_checkpoint(path)
    if checkpoint_kind(ckpt) == "view":
        expect_kind(ckpt, path, "pretrain")  # says what it is and what is needed
    cfg = checkpoint_config(ckpt, path)
    return checkpoint_backbone(ckpt, cfg, path).to(device).eval(), cfg


def checkpoint_backbone(
    ckpt: dict[str, Any], cfg: Config, path: str | Path = ""
) -> torch.nn.Module:
    """The backbone ``cfg.model`` describes, with the weights stored under ``backbone``."""
    if "backbone" not in ckpt:
        raise CheckpointError(f"{path}: checkpoint has no 'backbone' weights")
    try:
        backbone = build_backbone(cfg.model.backbone, width=cfg.model.width,
                                  **cfg.model.backbone_args)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot build the backbone its config names "
                              f"(model.backbone={cfg.model.backbone}): {exc}") from None
    load_weights(backbone, ckpt["backbone"], path, "backbone")
    return backbone


def checkpoint_head(ckpt: dict[str, Any], path: str | Path = "") -> tuple[torch.nn.Module, str]:
    """The head stored in a checkpoint's ``model`` weights, and the name of its output.

    A pretraining checkpoint with a contrastive term holds the MoCo projection head
    (``moco.projection.*``, output ``"projection"``, not normalised); a fine-tuning checkpoint
    holds the classifier (``classifier.*``, output ``"logits"``). Shapes are read from the weights,
    so the head is rebuilt exactly as trained whatever the config says.
    """
    model = ckpt.get("model")
    if not isinstance(model, dict):
        raise CheckpointError(f"{path}: checkpoint has no 'model' weights to take a head from")
    if "classifier.weight" in model:
        w = model["classifier.weight"]
        head: torch.nn.Module = torch.nn.Linear(int(w.shape[1]), int(w.shape[0]))
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


def load_view_module(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[ViewSynthesis, Config]:
    """Rebuild G and O from a ``vidssl pretrain-view`` checkpoint; returns the module and the
    config it was trained with (its data section says which clips G knows).

    The file is read once, with ``weights_only=True``: plain tensors and Python values only.
    """
    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise FileNotFoundError(f"view checkpoint not found: {path}")
    ckpt = load_checkpoint(path, kind="view")
    cfg = checkpoint_config(ckpt, path)
    try:
        module = ViewSynthesis(**{k: int(v) for k, v in dict(ckpt["arch"]).items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged view checkpoint, bad 'arch' ({exc})") from None
    load_weights(module.generator, ckpt["generator"], path, "generator")
    if "flow" in ckpt:
        load_weights(module.flow, ckpt["flow"], path, "flow")
    return module.to(device), cfg


def load_view_generator(
    path: str | Path, device: str | torch.device = "cpu", sample: bool = True
) -> tuple[Callable[[torch.Tensor], torch.Tensor], Config]:
    """The frozen G of a view checkpoint as ``fn(clip) -> view``
    (:func:`vidssl.models.view_synthesis.frozen_generator`), and the checkpoint's config."""
    module, cfg = load_view_module(path, device)
    return frozen_generator(module.generator, sample), cfg
