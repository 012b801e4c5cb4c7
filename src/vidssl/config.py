"""Experiment configuration: typed dataclasses loaded from YAML with ``key=value`` overrides.

Why dataclasses and not free dicts: every experiment in the paper's tables is a YAML file, and an
ablation is a config, not a code fork. Typed sections let us reject unknown keys and impossible
values *before* any training starts, with a message that names the offending key.

A config file may ``include: other.yaml`` (a path relative to the including file) to start from
another config and change a few keys; the include is merged first, then the file's own keys.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vidssl.data.layouts import LAYOUTS
from vidssl.data.variants import VARIANTS, check_realism
from vidssl.errors import ConfigError  # re-exported: ``from vidssl.config import ConfigError``

# Old method names that still load (:func:`upgrade_legacy_keys` notes the new one; the method
# registry accepts them too).
METHOD_ALIASES = {"ours": "order-rate-moco"}

# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


@dataclass
class SyntheticConfig:
    """The built-in "synthetic motion" dataset (see ``vidssl.data.synthetic``)."""

    # motion | direction | scene | phased | real (vidssl.data.variants.VARIANTS)
    variant: str = "motion"
    size: int = 64  # frame side in pixels (32 is a config away)
    min_frames: int = 64
    max_frames: int = 96
    train_per_class: int = 40
    test_per_class: int = 20
    # Validation videos per class, for choosing hyperparameters without touching test; -1 =
    # as many as test_per_class, 0 = no val split. Drawn from their own seed stream, so adding
    # them leaves the train and test videos bit-identical.
    val_per_class: int = -1
    seed: int = 0
    # Realism knobs; -1 = the variant's value. scene_bias: probability that a video's scene is
    # its class's own (appearance goes with the action); camera: probability of a
    # class-independent camera pan or shake.
    scene_bias: float = -1.0
    camera: float = -1.0


@dataclass
class DataConfig:
    """Where videos come from and how a clip becomes a tensor."""

    # a name of vidssl.data.layouts.LAYOUTS (synthetic, ucf101, folder, ...)
    dataset: str = "synthetic"
    root: str = ""  # dataset root (videos or frame folders)
    split: int = 1  # official split for UCF101 / HMDB51
    split_dir: str = ""  # where split files live; default: inside root (see datasets.py)
    train_list: str = ""  # folder layout: optional "relative/path label" list for train
    test_list: str = ""  # folder layout: optional list for test
    val_list: str = ""  # folder layout: optional list for val (model selection; no default)
    frame_pattern: str = ""  # frame-folder file pattern, "" = auto (img_00001.jpg, frame000001.jpg)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    # model input: "rgb" (the paper's) or "diff" (frame differences, see README)
    input: str = "rgb"
    resize: list[int] = field(default_factory=lambda: [128, 171])  # (H, W) before cropping
    crop: int = 112
    # the video reader scales frames to `resize` while converting them to RGB (one swscale
    # pass, see data/transforms.py); false = full-size frames resized in float by the transform
    resize_on_decode: bool = True
    color_jitter: float = 0.4  # brightness/contrast/saturation strength; 0 disables
    hflip: bool = True
    num_workers: int = 2  # DataLoader processes; -1 = chosen from the cores present


@dataclass
class SamplerConfig:
    """The pretext clip of DESIGN section 1."""

    clip_len: int = 16  # T
    n_segments: int = 3  # n, 2..5
    min_len: int = 3
    rate_min: int = 1
    rate_max: int = 8
    short_video: str = "loop"  # loop | pad: what a clip does when even rate 1 does not fit


@dataclass
class ModelConfig:
    """Backbone and heads."""

    backbone: str = "r3d"  # c3d | r3d | r2plus1d | s3dg | any registered name
    width: float = 1.0  # channel multiplier (1/4 for CPU demos)
    backbone_args: dict[str, Any] = field(default_factory=dict)  # extra kwargs to the builder
    proj_dim: int = 0  # contrastive projection size d; 0 = multiple of n nearest to 128
    proj_hidden: int = 0  # 0 = the backbone feature size (512 at width 1)
    order_hidden: int = 512
    # ReLU between the order head's two layers (DESIGN 2 writes them without one, the default;
    # true makes the head a real MLP, models/heads.py OrderHead)
    order_relu: bool = False
    dropout: float = 0.0
    rate_mode: str = "regression"  # regression (MSE) | classification (CE over rate values)


@dataclass
class LossConfig:
    """Objective ``L = l1 * order + l2 * rate + l3 * contrastive`` (DESIGN section 6)."""

    order: float = 1.0
    rate: float = 0.3
    contrastive: float = 1.0


@dataclass
class ContrastiveConfig:
    """MoCo with shuffle similarity (DESIGN sections 3-4)."""

    similarity: str = "shuffle"  # shuffle | cosine
    matching: str = "greedy"  # greedy | optimal
    temperature: float = 0.07
    queue_size: int = 4096
    momentum: float = 0.999
    # how BatchNorm is kept from leaking the positive (DESIGN 3, method/moco.py): shuffle (split
    # BN sub-batches, keys dealt across them and across processes) | sync (SyncBatchNorm, several
    # GPU processes) | none (one BN batch: the leak, for the ablation only)
    key_bn: str = "shuffle"
    bn_splits: int = 0  # BN sub-batches per process for shuffle; 0 = automatic (moco.bn_splits_for)
    # keep keys of the query's own video out of its negatives (method/moco.py MoCo.loss): a queue
    # longer than an epoch holds older keys of every video; false = the plain MoCo loss
    exclude_own_video: bool = True


@dataclass
class ViewConfig:
    """View synthesis (DESIGN section 5): training the module and using it for keys."""

    checkpoint: str = ""  # trained view module; "" = keys are resampled clips only
    p: float = 0.5  # probability that a key is the synthesized view
    latent: int = 16  # generator channels at the bottleneck, per width unit
    # generator / flow-net base channels: a channel count (model.width is a multiplier);
    # called view.width before, which still loads (RENAMED_KEYS)
    channels: int = 16
    kl: float = 1.0
    # how the KL term is reduced (method/view_losses.py): "mean" over latent elements (default:
    # keeps it on the scale of the other mean-reduced terms) | "sum" over each sample's latent
    # elements, averaged over the batch (the paper's eq. 14)
    kl_reduction: str = "mean"
    infomax: float = 1.0
    infomin: float = 1.0
    extractor: str = "random"  # random | checkpoint path of a backbone snapshot
    flow_lr: float = 1e-3


@dataclass
class OptimConfig:
    name: str = "sgd"  # sgd | adamw
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"  # step | cosine | constant
    milestones: list[int] = field(default_factory=lambda: [200])  # epochs, for "step"
    gamma: float = 0.1
    warmup_epochs: float = 0.0


@dataclass
class TrainConfig:
    epochs: int = 300
    batch_size: int = 16
    steps_per_epoch: int = 0  # 0 = one pass over the dataset
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    out_dir: str = "runs/default"
    log_every: int = 10
    eval_every: int = 10  # epochs between held-out pretext evaluations (and always the last)
    checkpoint_every: int = 1  # epochs between checkpoints (and always the last / on Ctrl-C)
    precision: str = "fp32"  # fp32 | bf16 | fp16
    channels_last: bool = False
    compile: bool = False
    threads: int = 0  # torch CPU threads; 0 = torch's default (the cores this process may use)


@dataclass
class FinetuneConfig:
    """Supervised fine-tuning for action recognition (DESIGN section 7)."""

    epochs: int = 150
    batch_size: int = 16
    lr: float = 1e-3
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    milestones: list[int] = field(default_factory=lambda: [100])
    dropout: float = 0.5
    clip_len: int = 16
    clip_step: int = 1  # frame step inside a fine-tuning clip
    test_clips: int = 10
    freeze_backbone: bool = False


@dataclass
class EvalConfig:
    """Retrieval, linear probe and feature extraction."""

    clips: int = 10  # clips per video
    clip_len: int = 16
    clip_step: int = 1
    level: str = "video"  # video | clip
    feature: str = "pool"  # pool | conv5
    topk: list[int] = field(default_factory=lambda: [1, 5, 10, 20, 50])
    batch_size: int = 16
    chunk_size: int = 4096
    # pretext clips drawn per held-out video for the held-out pretext metrics (order accuracy,
    # rate MSE; train.eval_every and compare's "pretext"): 1 suits hundreds of videos; a small
    # set of real videos (9 per performer) needs several, or one accuracy moves in 11-point steps
    pretext_clips: int = 1


@dataclass
class Config:
    """One experiment. Commands read the sections they need and ignore the rest."""

    name: str = "experiment"
    # the pretext method: a name registered in vidssl.method.registry (checked there, after the
    # file is read: vidssl.method.registry.check_config)
    method: str = "order-rate-moco"
    data: DataConfig = field(default_factory=DataConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    view: ViewConfig = field(default_factory=ViewConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def projection_dim(self) -> int:
        """The contrastive feature size ``d``: explicit, or the multiple of n nearest to 128."""
        if self.model.proj_dim:
            return self.model.proj_dim
        n = self.sampler.n_segments
        return max(n, int(round(128 / n)) * n)


# --------------------------------------------------------------------------------------------
# Loading, overriding, validating
# --------------------------------------------------------------------------------------------


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check/convert a YAML value to the annotated type, or raise naming ``key``."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of settings, got {value!r}")
        return _build(hint, value, key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in values.items():
        full = f"{prefix}.{k}" if prefix else k
        if k not in names:
            close = ", ".join(sorted(names))
            raise ConfigError(f"unknown config key '{full}' (known here: {close})")
        kwargs[k] = _coerce(v, hints[k], full)
    obj = cls()
    for k, v in kwargs.items():
        setattr(obj, k, v)
    return obj


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "backbone_args":
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path in seen:
        raise ConfigError(f"config include loop through {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); a config is YAML text"
                          ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(exc)}") from None
    if raw is None:
        # An empty file is a mistake (a wrong path, a file cut short), never a request for
        # the full-size defaults: those would start a days-long run.
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    include = raw.pop("include", None)
    if include:
        base = _read_yaml(path.parent / include, seen + (path,))
        raw = _deep_merge(base, raw)
    return raw


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value")
    key, _, value = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has no key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': the value is not valid YAML ({_one_line(exc)}); "
                          "quote it, e.g. key='value'") from None
    return key.split("."), parsed


def _one_line(exc: Exception) -> str:
    """A YAML error as one short line: the problem and where (PyYAML spreads its message
    over several lines with a source excerpt)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override '{text}': '{part}' is not a section")
            node = nxt
        node[path[-1]] = value
    return raw


# Keys renamed since they were released: old -> new. Configs, checkpoints and compare folders
# written with the old name still load, with one line (once per process) naming the new key.
RENAMED_KEYS: dict[str, str] = {"view.width": "view.channels"}
_warned_renames: set[str] = set()


def rename_old_keys(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with the keys of :data:`RENAMED_KEYS` under their new names (a copy if any)."""
    for old, new in RENAMED_KEYS.items():
        (section, key), (new_section, new_key) = old.split("."), new.split(".")
        node = raw.get(section)
        if not isinstance(node, dict) or key not in node:
            continue
        if new_key in node:
            raise ConfigError(f"{old} and {new} are both set; {old} is the old name of {new}, "
                              f"keep only {new}")
        raw = copy.deepcopy(raw)
        raw.setdefault(new_section, {})[new_key] = raw[section].pop(key)
        if old not in _warned_renames:
            _warned_renames.add(old)
            print(f"vidssl: {old} is now called {new}; reading it as {new}", file=sys.stderr)
    return raw


def upgrade_legacy_keys(raw: dict[str, Any], note: bool = True) -> dict[str, Any]:
    """``raw`` with keys of older vidssl versions moved to where they live now.

    ``loss.method`` became the top-level ``method`` (the method is not a loss term) and the
    flagship ``ours`` became ``order-rate-moco``; configs and checkpoints written before still
    load, with a one-line note on stderr (``note``) naming the new key.
    """
    loss = raw.get("loss")
    if isinstance(loss, dict) and "method" in loss:
        raw = copy.deepcopy(raw)
        old = raw["loss"].pop("method")
        if "method" in raw and raw["method"] != old:
            raise ConfigError(f"method: '{raw['method']}' and loss.method: '{old}' both given; "
                              "loss.method is the old name of method, keep only method")
        raw["method"] = old
        if note:
            _note_once("loss.method", "config key loss.method is now the top-level key "
                       f"method: write 'method: {METHOD_ALIASES.get(str(old), old)}'")
    name = raw.get("method")
    if isinstance(name, str) and name in METHOD_ALIASES:
        raw = {**raw, "method": METHOD_ALIASES[name]}
        if note:
            _note_once(name, f"method '{name}' is now called '{raw['method']}'")
    return raw


_NOTED: set[str] = set()


def _note_once(topic: str, text: str) -> None:
    """One line on stderr per old name per process (a compare loads many configs)."""
    if topic not in _NOTED:
        _NOTED.add(topic)
        print(f"vidssl: note: {text}", file=sys.stderr)


def config_from_dict(raw: dict[str, Any]) -> Config:
    cfg = _build(Config, rename_old_keys(upgrade_legacy_keys(raw)))
    validate(cfg)
    return cfg


PACKAGE_CONFIGS = Path(__file__).resolve().parent / "configs"


def resolve_config_path(path: str | Path) -> Path:
    """A config path as given, or else the same name among the configs shipped with vidssl.

    ``configs/demo.yaml`` works from a source checkout (``configs`` links into the package) and
    from any directory once vidssl is installed.
    """
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        raise ConfigError(f"config {path} is a folder, not a YAML file")
    parts = p.parts[1:] if p.parts and p.parts[0] == "configs" else p.parts
    candidate = PACKAGE_CONFIGS.joinpath(*parts) if parts else PACKAGE_CONFIGS
    if candidate.is_file():
        return candidate
    raise ConfigError(f"config file not found: {path}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or the defaults), apply ``key=value`` overrides, validate."""
    raw = _read_yaml(resolve_config_path(path)) if path else {}
    raw = apply_overrides(raw, list(overrides or []))
    return config_from_dict(raw)


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        yaml.safe_dump(cfg.to_dict(), fh, sort_keys=False)


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got '{value}'")


DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _positive(key: str, value: float) -> None:
    """``value`` must be a finite number > 0 (NaN fails every comparison, so test it)."""
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{key} must be a finite number > 0; got {value}")


def _at_least(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key} must be >= {low}; got {value}")


def _finite_nonnegative(key: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{key} must be a finite number >= 0; got {value}")


def check_device(key: str, value: str) -> None:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``: a typo fails here, before training,
    not after the data set and the model were built."""
    if not DEVICE_PATTERN.fullmatch(value):
        raise ConfigError(f"{key} must be auto, cpu, cuda, cuda:N or mps; got '{value}'")


def validate(cfg: Config) -> None:
    """Reject impossible settings early, naming the key (DESIGN: fail before training)."""
    _validate_sizes(cfg)
    s = cfg.sampler
    if not 2 <= s.n_segments <= 5:
        raise ConfigError(f"sampler.n_segments must be in 2..5; got {s.n_segments}")
    if s.min_len < 1:
        raise ConfigError(f"sampler.min_len must be >= 1; got {s.min_len}")
    if s.n_segments * s.min_len > s.clip_len:
        raise ConfigError(
            f"sampler.clip_len={s.clip_len} cannot hold n_segments={s.n_segments} segments "
            f"of at least min_len={s.min_len} frames"
        )
    if not 1 <= s.rate_min <= s.rate_max:
        raise ConfigError(
            f"sampler.rate_min/rate_max must satisfy 1 <= rate_min <= rate_max; "
            f"got {s.rate_min}, {s.rate_max}"
        )
    _choice("sampler.short_video", s.short_video, ("loop", "pad"))
    _choice("data.input", cfg.data.input, ("rgb", "diff"))
    _choice(
        "data.dataset",
        cfg.data.dataset,
        tuple(LAYOUTS),
    )
    _choice("data.synthetic.variant", cfg.data.synthetic.variant, tuple(VARIANTS))
    check_realism(cfg.data.synthetic)
    if len(cfg.data.resize) != 2 or min(cfg.data.resize) < 1:
        raise ConfigError(f"data.resize must be [height, width]; got {cfg.data.resize}")
    if cfg.data.crop > min(cfg.data.resize):
        raise ConfigError(
            f"data.crop={cfg.data.crop} is larger than data.resize={cfg.data.resize}"
        )
    if cfg.data.num_workers < -1:
        raise ConfigError(
            f"data.num_workers must be >= 0, or -1 to choose from the cores present; "
            f"got {cfg.data.num_workers}"
        )
    if cfg.data.split not in (1, 2, 3):
        raise ConfigError(f"data.split must be 1, 2 or 3; got {cfg.data.split}")
    _choice("model.rate_mode", cfg.model.rate_mode, ("regression", "classification"))
    for k in ("order", "rate", "contrastive"):
        w = getattr(cfg.loss, k)
        if w < 0 or not math.isfinite(w):
            raise ConfigError(f"loss.{k} must be a finite weight >= 0; got {w}")
    c = cfg.contrastive
    _choice("contrastive.similarity", c.similarity, ("shuffle", "cosine"))
    _choice("contrastive.matching", c.matching, ("greedy", "optimal"))
    _choice("contrastive.key_bn", c.key_bn, ("shuffle", "sync", "none"))
    if c.bn_splits < 0 or (c.bn_splits and cfg.train.batch_size % c.bn_splits):
        raise ConfigError(f"contrastive.bn_splits must be 0 (automatic) or divide "
                          f"train.batch_size={cfg.train.batch_size}; got {c.bn_splits}")
    _positive("contrastive.temperature", c.temperature)
    if not 0.0 <= c.momentum < 1.0:
        raise ConfigError(f"contrastive.momentum must be in [0, 1); got {c.momentum}")
    d = cfg.projection_dim()
    if c.similarity == "shuffle" and d % s.n_segments:
        raise ConfigError(
            f"model.proj_dim={d} is not divisible by sampler.n_segments={s.n_segments}: "
            "shuffle similarity splits the feature into n equal chunks"
        )
    if not 0.0 <= cfg.view.p <= 1.0:
        raise ConfigError(f"view.p must be in [0, 1]; got {cfg.view.p}")
    _choice("view.kl_reduction", cfg.view.kl_reduction, ("mean", "sum"))
    _choice("optim.name", cfg.optim.name, ("sgd", "adamw"))
    _choice("optim.schedule", cfg.optim.schedule, ("step", "cosine", "constant"))
    _positive("optim.lr", cfg.optim.lr)
    t = cfg.train
    if t.epochs < 1:
        raise ConfigError(f"train.epochs must be >= 1; got {t.epochs}")
    if t.batch_size < 1:
        raise ConfigError(f"train.batch_size must be >= 1; got {t.batch_size}")
    _choice("train.precision", t.precision, ("fp32", "bf16", "fp16"))
    e = cfg.eval
    _choice("eval.level", e.level, ("video", "clip"))
    _choice("eval.feature", e.feature, ("pool", "conv5"))
    if e.clips < 1:
        raise ConfigError(f"eval.clips must be >= 1; got {e.clips}")


def _validate_sizes(cfg: Config) -> None:
    """Counts, sizes and rates that must be positive (or non-negative) and finite."""
    d, t, o, f, e = cfg.data, cfg.train, cfg.optim, cfg.finetune, cfg.eval
    syn = d.synthetic
    _at_least("data.crop", d.crop, 1)
    _finite_nonnegative("data.color_jitter", d.color_jitter)
    _at_least("data.synthetic.size", syn.size, 8)
    _at_least("data.synthetic.min_frames", syn.min_frames, 1)
    _at_least("data.synthetic.max_frames", syn.max_frames, syn.min_frames)
    _at_least("data.synthetic.train_per_class", syn.train_per_class, 1)
    _at_least("data.synthetic.test_per_class", syn.test_per_class, 1)
    _at_least("sampler.clip_len", cfg.sampler.clip_len, 1)
    _positive("model.width", cfg.model.width)
    _at_least("model.proj_dim", cfg.model.proj_dim, 0)
    _at_least("model.proj_hidden", cfg.model.proj_hidden, 0)
    _at_least("model.order_hidden", cfg.model.order_hidden, 1)
    if not (math.isfinite(cfg.model.dropout) and 0 <= cfg.model.dropout < 1):
        raise ConfigError(f"model.dropout must be in [0, 1); got {cfg.model.dropout}")
    _at_least("contrastive.queue_size", cfg.contrastive.queue_size, 0)
    _positive("view.flow_lr", cfg.view.flow_lr)
    _at_least("view.latent", cfg.view.latent, 1)
    _at_least("view.channels", cfg.view.channels, 1)
    for k in ("kl", "infomax", "infomin"):
        _finite_nonnegative(f"view.{k}", getattr(cfg.view, k))
    _finite_nonnegative("optim.momentum", o.momentum)
    _finite_nonnegative("optim.weight_decay", o.weight_decay)
    _positive("optim.gamma", o.gamma)
    _finite_nonnegative("optim.warmup_epochs", o.warmup_epochs)
    _at_least("train.steps_per_epoch", t.steps_per_epoch, 0)
    _at_least("train.log_every", t.log_every, 0)
    _at_least("train.eval_every", t.eval_every, 0)
    _at_least("train.checkpoint_every", t.checkpoint_every, 0)
    _at_least("train.threads", t.threads, 0)
    if not t.out_dir.strip():
        raise ConfigError("train.out_dir must name a folder; got ''")
    check_device("train.device", t.device)
    _at_least("finetune.epochs", f.epochs, 1)
    _at_least("finetune.batch_size", f.batch_size, 1)
    _positive("finetune.lr", f.lr)
    _finite_nonnegative("finetune.weight_decay", f.weight_decay)
    if not (math.isfinite(f.dropout) and 0 <= f.dropout < 1):
        raise ConfigError(f"finetune.dropout must be in [0, 1); got {f.dropout}")
    _at_least("finetune.clip_len", f.clip_len, 1)
    _at_least("finetune.clip_step", f.clip_step, 1)
    _at_least("finetune.test_clips", f.test_clips, 1)
    _choice("finetune.optimizer", f.optimizer, ("sgd", "adamw"))
    _at_least("eval.clip_len", e.clip_len, 1)
    _at_least("eval.clip_step", e.clip_step, 1)
    _at_least("eval.batch_size", e.batch_size, 1)
    _at_least("eval.pretext_clips", e.pretext_clips, 1)
    _at_least("eval.chunk_size", e.chunk_size, 1)
    if not e.topk or min(e.topk) < 1:
        raise ConfigError(f"eval.topk must be a list of k >= 1; got {e.topk}")
