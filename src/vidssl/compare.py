"""``vidssl compare``: pretrain and evaluate a list of methods, then tabulate them.

A compare file (YAML) lists the rows of a table such as the paper's ablation (Table VI) or its
comparison with other methods (Table X); each row is one pretraining config, all evaluated the
same way::

    name: ablation                  # table title
    base: ../demo.yaml              # pretraining config shared by all rows (relative to this
                                    # file, or a config shipped with vidssl)
    overrides: [train.epochs=4]     # KEY=VALUE for every row
    evaluations: [pretext, retrieval, probe, finetune]
    out_dir: runs/compare/ablation  # one sub-folder per row; relative to the working directory
    methods:
      - name: order                 # row name = folder name (letters, digits, - _ . +)
        overrides: [loss.rate=0, loss.contrastive=0]
      - name: random
        pretrain: false             # random init: no pretraining, evaluated the same way
      - name: +view
        view: true                  # pretrain with the view module below (view.checkpoint)
    view:                           # only when a method has view: true; trained once, first,
      config: ../view/demo.yaml     # into <out_dir>/_view (default config: base)
      overrides: [train.epochs=2]

A row's config is ``base`` + ``overrides`` + the row's ``overrides`` + the command line's
``KEY=VALUE`` (last wins), with ``train.out_dir`` set to ``<out_dir>/<name>/pretrain``. The view
module's is ``view.config`` (or ``base``) + ``overrides`` + ``view.overrides`` + the command
line's. All configs are built and validated before anything runs.

Evaluations (each cached in ``<out_dir>/<name>/<evaluation>.json``):
``pretext`` (held-out pretext metrics of the final model: order accuracy, rate error,
contrastive loss, ...), ``retrieval`` (top-k, DESIGN 7), ``probe`` (linear probe) and
``finetune`` (10-clip video accuracy after fine-tuning). Retrieval and probe share one feature
extraction. Every row also gets its cost: backbone parameters and GMACs per training sample
(the forward multiply-accumulates of every network a training sample goes through: each VCOP
clip, the query and the key encoder of MoCo, the view generator weighted by ``view.p``; the
measure of Table VIII).

Resuming: a finished pretraining (checkpoint at ``train.epochs``) is not run again, a partial
one resumes from its checkpoint, a fine-tuning resumes from its own, and an evaluation whose
JSON exists for the same config is read back. A row whose pretraining config changed since it
ran is refused (the folder would mix two experiments) until ``--redo NAME`` clears it
(``--redo _view`` for the view module).

Outputs in ``out_dir``: ``compare.md`` (the table), ``compare.json`` (all numbers),
``compare.png`` (bar chart of the evaluation metrics).
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from vidssl.config import Config, ConfigError, load_config, resolve_config_path

EVALUATIONS = ("pretext", "retrieval", "probe", "finetune")
VIEW_NAME = "_view"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# Settings that change how a run executes but not what it computes: a change is not a new
# experiment (moving a finished comparison to a GPU must not invalidate it).
_EXECUTION_KEYS = {
    "data": ("num_workers",),
    "train": ("device", "threads", "log_every", "out_dir", "checkpoint_every", "compile"),
}
# Sections a pretraining result depends on (evaluation settings may change without a re-run).
_EVAL_SECTIONS = ("eval", "finetune")


class CompareError(ValueError):
    """The compare file is malformed or a row's folder holds a different experiment."""


@dataclass
class MethodSpec:
    """One row: a name, its overrides, whether it pretrains, and an optional view module."""

    name: str
    overrides: list[str] = field(default_factory=list)
    pretrain: bool = True
    view: bool = False  # keys from the comparison's view module
    label: str = ""  # shown in the table (default: name)


@dataclass
class CompareSpec:
    """A parsed compare file."""

    name: str
    base: Path
    out_dir: Path
    methods: list[MethodSpec]
    overrides: list[str] = field(default_factory=list)
    evaluations: list[str] = field(default_factory=lambda: ["pretext", "retrieval", "probe"])
    source: Path | None = None
    view: dict[str, Any] | None = None  # {config: path or None, overrides: [...]}

    def method(self, name: str) -> MethodSpec:
        for m in self.methods:
            if m.name == name:
                return m
        raise CompareError(f"no method '{name}' in {self.source} "
                           f"(methods: {', '.join(m.name for m in self.methods)})")


# --------------------------------------------------------------------------------------------
# Reading the compare file
# --------------------------------------------------------------------------------------------


def _str_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CompareError(f"{key}: expected a list of KEY=VALUE strings, got {value!r}")
    return list(value)


def _resolve_relative(path: str, relative_to: Path | None) -> Path:
    if relative_to is not None and (relative_to.parent / path).is_file():
        return (relative_to.parent / path).resolve()
    return resolve_config_path(path)


def _check_keys(raw: dict[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise CompareError(f"{where}: unknown key(s) {', '.join(unknown)} "
                           f"(known: {', '.join(allowed)})")


def parse_compare(raw: dict[str, Any], source: Path | None = None) -> CompareSpec:
    """Check a compare mapping (as read from YAML) and return its :class:`CompareSpec`."""
    where = str(source or "compare config")
    if not isinstance(raw, dict):
        raise CompareError(f"{where}: the top level must be a mapping")
    _check_keys(raw, ("name", "base", "overrides", "evaluations", "out_dir", "methods", "view"),
                where)
    for key in ("base", "out_dir", "methods"):
        if key not in raw:
            raise CompareError(f"{where}: '{key}' is required")
    evaluations = raw.get("evaluations", ["pretext", "retrieval", "probe"])
    if not isinstance(evaluations, list) or any(e not in EVALUATIONS for e in evaluations):
        raise CompareError(f"{where}: evaluations must be a list drawn from "
                           f"{', '.join(EVALUATIONS)}; got {evaluations!r}")
    methods_raw = raw["methods"]
    if not isinstance(methods_raw, list) or not methods_raw:
        raise CompareError(f"{where}: methods must be a non-empty list")
    methods: list[MethodSpec] = []
    for i, m in enumerate(methods_raw):
        mw = f"{where}: methods[{i}]"
        if not isinstance(m, dict) or "name" not in m:
            raise CompareError(f"{mw}: each method is a mapping with at least a name")
        _check_keys(m, ("name", "overrides", "pretrain", "view", "label"), mw)
        name = str(m["name"])
        if not _NAME_RE.match(name):
            raise CompareError(f"{mw}: name '{name}' must use letters, digits and - _ . + "
                               "(it names a folder)")
        if name in {x.name for x in methods}:
            raise CompareError(f"{mw}: duplicate method name '{name}'")
        view, pretrain = m.get("view", False), m.get("pretrain", True)
        for key, value in (("view", view), ("pretrain", pretrain)):
            if not isinstance(value, bool):
                raise CompareError(f"{mw}.{key}: expected true or false")
        if view and not pretrain:
            raise CompareError(f"{mw}: a view module is only used by pretraining")
        if view and "view" not in raw:
            raise CompareError(f"{mw} has view: true but the file has no top-level 'view' "
                               "section ({config: <view config>, overrides: [...]})")
        methods.append(MethodSpec(name=name, overrides=_str_list(m.get("overrides"),
                                                                 f"{mw}.overrides"),
                                  pretrain=pretrain, view=view, label=str(m.get("label", ""))))
    view_spec = raw.get("view")
    if view_spec is not None:
        if not isinstance(view_spec, dict):
            raise CompareError(f"{where}: view must be a mapping {{config, overrides}}")
        _check_keys(view_spec, ("config", "overrides"), f"{where}: view")
        view_spec = {
            "config": (_resolve_relative(str(view_spec["config"]), source)
                       if view_spec.get("config") else None),
            "overrides": _str_list(view_spec.get("overrides"), f"{where}: view.overrides"),
        }
    return CompareSpec(
        view=view_spec,
        name=str(raw.get("name", source.stem if source else "compare")),
        base=_resolve_relative(str(raw["base"]), source),
        out_dir=Path(str(raw["out_dir"])),
        methods=methods,
        overrides=_str_list(raw.get("overrides"), f"{where}: overrides"),
        evaluations=list(evaluations),
        source=source,
    )


def load_compare(path: str | Path) -> CompareSpec:
    """Read a compare YAML file (``yaml.safe_load``) into a :class:`CompareSpec`."""
    p = resolve_config_path(path).resolve()
    with p.open() as fh:
        try:
            raw = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise CompareError(f"{p}: not valid YAML: {exc}") from exc
    return parse_compare(raw, p)


def method_dir(spec: CompareSpec, method: MethodSpec) -> Path:
    return spec.out_dir / method.name


def method_config(spec: CompareSpec, method: MethodSpec, extra: Sequence[str] = ()) -> Config:
    """The row's experiment config (see the module docstring for the order of overrides)."""
    d = method_dir(spec, method)
    overrides = [*spec.overrides, *method.overrides, *extra, f"train.out_dir={d / 'pretrain'}",
                 f"name={method.name}"]
    if method.view:
        overrides.append(f"view.checkpoint={view_dir(spec) / 'checkpoint.pt'}")
    try:
        return load_config(spec.base, overrides)
    except ConfigError as exc:
        raise CompareError(f"method '{method.name}': {exc}") from exc


def view_dir(spec: CompareSpec) -> Path:
    """Where the comparison's view module is trained (``_`` cannot start a method name)."""
    return spec.out_dir / VIEW_NAME


def view_config(spec: CompareSpec, extra: Sequence[str] = ()) -> Config:
    """The config the comparison's view module is trained with."""
    if spec.view is None:
        raise CompareError(f"{spec.source}: no top-level 'view' section")
    overrides = [*spec.overrides, *spec.view["overrides"], *extra, "view.checkpoint=",
                 f"train.out_dir={view_dir(spec)}"]
    try:
        return load_config(spec.view["config"] or spec.base, overrides)
    except ConfigError as exc:
        raise CompareError(f"view module: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Fingerprints: is a folder's result still the result of this config?
# --------------------------------------------------------------------------------------------


def experiment_dict(cfg: Config | dict[str, Any], drop: Sequence[str] = ()) -> dict[str, Any]:
    """The config as a dict without execution-only keys (and without sections in ``drop``)."""
    d = copy.deepcopy(cfg.to_dict() if isinstance(cfg, Config) else cfg)
    d.pop("name", None)
    for section, keys in _EXECUTION_KEYS.items():
        for k in keys:
            d.get(section, {}).pop(k, None)
    for section in drop:
        d.pop(section, None)
    return d


def _read_yaml(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with path.open() as fh:
        return yaml.safe_load(fh) or {}


def _read_json(path: Path) -> dict[str, Any] | None:
    import json

    if not path.is_file():
        return None
    with path.open() as fh:
        return json.load(fh)


def _first_difference(a: Any, b: Any, prefix: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
    return f"{prefix}: {a!r} then, {b!r} now"


# --------------------------------------------------------------------------------------------
# Cost: parameters and MACs per training sample
# --------------------------------------------------------------------------------------------


def sample_batch_shapes(cfg: Config) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Shapes of a one-sample training batch of the configured method (for counting MACs)."""
    s, m = cfg.sampler, cfg.loss.method
    clip = (1, 3, s.clip_len, cfg.data.crop, cfg.data.crop)
    long = torch.int64
    if m == "ours":
        return {"clip": (clip, torch.float32), "key": (clip, torch.float32),
                "order": ((1,), long), "rates": ((1, s.n_segments), torch.float32)}
    if m == "vcop":
        return {"clip": ((1, s.n_segments, *clip[1:]), torch.float32), "order": ((1,), long)}
    if m in ("prp", "pace"):
        return {"clip": (clip, torch.float32), "key": (clip, torch.float32),
                "rate": ((1,), long)}
    if m == "supervised":
        ft_clip = (1, 3, cfg.finetune.clip_len, cfg.data.crop, cfg.data.crop)
        return {"clip": (ft_clip, torch.float32), "label": ((1,), long)}
    raise ValueError(f"unknown loss.method '{m}'")


def _meta_macs(module: torch.nn.Module, args: tuple[Any, ...]) -> int:
    """MACs of ``module(*args)`` run on meta copies of its weights (nothing is computed)."""
    import itertools

    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    state = {n: torch.empty_like(t, device="meta")
             for n, t in itertools.chain(module.named_parameters(), module.named_buffers())}
    was = module.training
    module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            functional_call(module, state, args)
    finally:
        module.train(was)
    return int(counter.get_total_flops()) // 2


def training_cost(cfg: Config, num_classes: int = 2) -> dict[str, float]:
    """Backbone parameters and GMACs per training sample of the configured method."""
    from vidssl.method.factory import build_pretext_model
    from vidssl.models.flops import count_params

    with torch.device("meta"):
        if cfg.loss.method == "supervised":
            from vidssl.method.baselines.supervised import SupervisedModel

            model = SupervisedModel(cfg, classes=num_classes)
        else:
            model = build_pretext_model(cfg)
    batch = {k: torch.zeros(shape, dtype=dt, device="meta")
             for k, (shape, dt) in sample_batch_shapes(cfg).items()}
    macs = _meta_macs(model, (batch,))
    if cfg.view.checkpoint and cfg.loss.method == "ours" and cfg.loss.contrastive > 0:
        from vidssl.models.view_synthesis import ViewSynthesis

        # The generator as trained (its checkpoint's arch), else as the config describes it.
        arch = {"width": cfg.view.width, "latent": cfg.view.latent}
        if Path(cfg.view.checkpoint).is_file():
            arch = torch.load(cfg.view.checkpoint, map_location="cpu", weights_only=True)["arch"]
        with torch.device("meta"):
            gen = ViewSynthesis(**{k: int(v) for k, v in arch.items()}).generator
        macs += cfg.view.p * _meta_macs(gen, (batch["clip"],))
    return {"params_m": count_params(model.backbone) / 1e6, "gmacs": macs / 1e9}


# --------------------------------------------------------------------------------------------
# Running one row
# --------------------------------------------------------------------------------------------

Log = Callable[[str], None]


def _checkpoint_epoch(path: Path) -> int:
    from vidssl.train.checkpoint import load_checkpoint

    return int(load_checkpoint(path, map_location="cpu").get("epoch", 0))


def ensure_view(spec: CompareSpec, extra: Sequence[str] = (), progress: bool = True,
                log: Log = print) -> Path:
    """Train the comparison's view module unless a finished one with this config exists."""
    from vidssl.train.view import train_view

    vcfg = view_config(spec, extra)
    out = view_dir(spec)
    ckpt = out / "checkpoint.pt"
    old = _read_yaml(out / "config.yaml")
    if old is not None and experiment_dict(old) != experiment_dict(vcfg):
        raise CompareError(
            f"{out} holds a view module trained with another config "
            f"({_first_difference(experiment_dict(old), experiment_dict(vcfg))}); "
            f"rerun with --redo {VIEW_NAME}"
        )
    if ckpt.is_file() and _checkpoint_epoch(ckpt) >= vcfg.train.epochs:
        log(f"[{VIEW_NAME}] view module: done ({ckpt})")
        return ckpt
    log(f"[{VIEW_NAME}] view module: training ({vcfg.train.epochs} epochs) -> {out}")
    return train_view(vcfg, out, progress=progress)


def _ensure_pretrained(cfg: Config, method: MethodSpec, progress: bool, log: Log) -> Path:
    from vidssl.train.pretrain import pretrain

    out = Path(cfg.train.out_dir)
    ckpt = out / "checkpoint.pt"
    old = _read_yaml(out / "config.yaml")
    want = experiment_dict(cfg, drop=_EVAL_SECTIONS)
    if old is not None and experiment_dict(old, drop=_EVAL_SECTIONS) != want:
        diff = _first_difference(experiment_dict(old, drop=_EVAL_SECTIONS), want)
        raise CompareError(
            f"method '{method.name}': {out} was pretrained with another config ({diff}); "
            f"rerun with --redo {method.name} to start it again"
        )
    if ckpt.is_file():
        done = _checkpoint_epoch(ckpt)
        if done >= cfg.train.epochs:
            log(f"[{method.name}] pretraining: done ({done} epochs)")
            return ckpt
        log(f"[{method.name}] pretraining: resuming at epoch {done} of {cfg.train.epochs}")
        return pretrain(cfg, resume=ckpt, progress=progress)
    log(f"[{method.name}] pretraining: {cfg.train.epochs} epochs -> {out}")
    return pretrain(cfg, progress=progress)


def _pretext_metrics(cfg: Config, ckpt: Path) -> dict[str, float]:
    from vidssl.method.factory import build_pretext_dataset, build_pretext_model
    from vidssl.train.checkpoint import load_checkpoint
    from vidssl.train.pretrain import evaluate_pretext, resolve_device

    device = resolve_device(cfg.train.device)
    model = build_pretext_model(cfg)
    model.load_state_dict(load_checkpoint(ckpt, map_location="cpu")["model"])
    dataset = build_pretext_dataset(cfg, split="test", train=False)
    metrics = evaluate_pretext(model.to(device), dataset, cfg, device)
    return {k.removeprefix("val_"): v for k, v in metrics.items()}


def _pretrain_seconds(cfg: Config) -> float | None:
    from vidssl.eval.plots import read_csv_log

    path = Path(cfg.train.out_dir) / "metrics.csv"
    if not path.is_file():
        return None
    secs = read_csv_log(path).get("seconds")
    return float(np.nansum(secs)) if secs is not None and len(secs) else None


def run_method(spec: CompareSpec, method: MethodSpec, extra: Sequence[str] = (),
               progress: bool = True, log: Log = print) -> dict[str, Any]:
    """Pretrain (or resume) one row, run its missing evaluations; return its result dict."""
    from vidssl.eval.features import random_backbone
    from vidssl.eval.report import write_json
    from vidssl.train.checkpoint import load_backbone

    cfg = method_config(spec, method, extra)
    d = method_dir(spec, method)
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from vidssl.resources import configure_threads

    configure_threads(cfg.train.threads)

    ckpt: Path | None = None
    if method.pretrain:
        if method.view:
            ensure_view(spec, extra, progress, log)
        ckpt = _ensure_pretrained(cfg, method, progress, log)

    fingerprint = experiment_dict(cfg)
    result: dict[str, Any] = {"name": method.name, "label": method.label or method.name,
                              "method": cfg.loss.method if method.pretrain else "random",
                              "pretrained": method.pretrain}
    if method.pretrain:
        cost = training_cost(cfg, num_classes=max(2, _num_classes(cfg)))
        result.update(cost)
        result["pretrain_minutes"] = (_pretrain_seconds(cfg) or math.nan) / 60
    else:
        from vidssl.models.flops import count_params

        result["params_m"] = count_params(random_backbone(cfg)) / 1e6

    features: dict[str, Any] = {}

    def backbone() -> torch.nn.Module:
        if ckpt is not None:
            return load_backbone(ckpt)[0]
        return random_backbone(cfg)

    def shared_features() -> tuple[Any, Any]:
        if not features:
            from vidssl.data.datasets import build_source
            from vidssl.eval.features import extract_features

            net = backbone()
            for split in ("train", "test"):
                features[split] = extract_features(net, build_source(cfg.data, split), cfg,
                                                   progress=progress,
                                                   desc=f"{method.name} {split} features")
        return features["train"], features["test"]

    for ev in spec.evaluations:
        path = d / f"{ev}.json"
        cached = _read_json(path)
        if cached is not None and cached.get("config") == fingerprint:
            result[ev] = cached["result"]
            continue
        if ev == "pretext":
            if ckpt is None:
                continue  # random init has no pretext model
            log(f"[{method.name}] pretext metrics on held-out clips")
            res: dict[str, Any] = _pretext_metrics(cfg, ckpt)
        elif ev == "retrieval":
            from vidssl.eval.retrieval import evaluate_retrieval

            log(f"[{method.name}] retrieval")
            train, test = shared_features()
            res = evaluate_retrieval(None, cfg, train_features=train, test_features=test,
                                     progress=progress)
        elif ev == "probe":
            from vidssl.eval.probe import linear_probe

            log(f"[{method.name}] linear probe")
            train, test = shared_features()
            res = linear_probe(None, cfg, train_features=train, test_features=test,
                               progress=progress)
        else:
            from vidssl.train.finetune import finetune

            log(f"[{method.name}] fine-tuning ({cfg.finetune.epochs} epochs)")
            net = backbone() if ckpt is not None else None
            res = finetune(net, cfg, out_dir=d / "finetune", resume=True, progress=progress)
        write_json(path, {"config": fingerprint, "result": res})
        result[ev] = _read_json(path)["result"]  # as JSON reads it back (tensors -> lists)
    result["seconds_this_run"] = time.perf_counter() - t0
    write_json(d / "result.json", result)
    return result


def _num_classes(cfg: Config) -> int:
    if cfg.loss.method != "supervised":
        return 2
    from vidssl.method.baselines.supervised import num_classes

    return num_classes(cfg)


# --------------------------------------------------------------------------------------------
# The table and the chart
# --------------------------------------------------------------------------------------------

# (column title, evaluation, key, scale, format): accuracies in percent, as the paper prints.
COLUMNS: list[tuple[str, str, str, float, str]] = [
    ("order acc", "pretext", "order_acc", 100, "{:.1f}"),
    ("rate MSE", "pretext", "rate_mse", 1, "{:.2f}"),
    ("rate acc", "pretext", "rate_acc", 100, "{:.1f}"),
    ("contr. loss", "pretext", "loss_contrastive", 1, "{:.2f}"),
    ("cls acc", "pretext", "cls_acc", 100, "{:.1f}"),
    ("retr. top-1", "retrieval", "top1", 100, "{:.1f}"),
    ("retr. top-5", "retrieval", "top5", 100, "{:.1f}"),
    ("probe", "probe", "accuracy", 100, "{:.1f}"),
    ("fine-tune", "finetune", "video_top1", 100, "{:.1f}"),
    ("GMACs/sample", "", "gmacs", 1, "{:.3g}"),
    ("params (M)", "", "params_m", 1, "{:.3g}"),
    ("pretrain min", "", "pretrain_minutes", 1, "{:.1f}"),
]
CHART_COLUMNS = ("retr. top-1", "probe", "fine-tune")


def _cell(row: dict[str, Any], evaluation: str, key: str) -> float | None:
    src = row.get(evaluation) if evaluation else row
    if not isinstance(src, dict):
        return None
    v = src.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def table_values(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{row label: {column title: value}}`` for the columns some row has (scaled)."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        vals = {}
        for title, ev, key, scale, _ in COLUMNS:
            v = _cell(row, ev, key)
            if v is not None:
                vals[title] = v * scale
        out[row.get("label") or row["name"]] = vals
    return out


def markdown_table(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """Rows = methods, columns = the metrics any row has; "–" where a row has none."""
    values = table_values(rows)
    cols = [(t, f) for t, _, _, _, f in COLUMNS if any(t in v for v in values.values())]
    lines = [f"## {title}", ""] if title else []
    lines.append("| method | " + " | ".join(t for t, _ in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for label, vals in values.items():
        cells = [f.format(vals[t]) if t in vals else "–" for t, f in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(spec: CompareSpec, rows: Sequence[dict[str, Any]]) -> dict[str, Path]:
    """``compare.md``, ``compare.json`` and (when there is something to draw) ``compare.png``."""
    from vidssl.eval.plots import plot_bars
    from vidssl.eval.report import _atomic_write, write_json

    out = spec.out_dir
    out.mkdir(parents=True, exist_ok=True)
    notes = [
        "",
        "Accuracies in percent. Pretext metrics on held-out (test split) clips; retrieval: test "
        "videos query train videos; probe: logistic regression on frozen video features; "
        "fine-tune: 10-clip video top-1. GMACs/sample: forward multiply-accumulates of every "
        "network one training sample passes through (Table VIII).",
        "",
    ]
    paths = {"md": out / "compare.md", "json": out / "compare.json"}
    _atomic_write(paths["md"], markdown_table(rows, spec.name) + "\n".join(notes))
    write_json(paths["json"], {"name": spec.name, "evaluations": spec.evaluations,
                               "methods": list(rows)})
    values = table_values(rows)
    chart = [c for c in CHART_COLUMNS if any(c in v for v in values.values())]
    if chart:
        paths["png"] = plot_bars({k: {c: v[c] for c in chart if c in v}
                                  for k, v in values.items()},
                                 out / "compare.png", title=spec.name, metrics=chart)
    return paths


# --------------------------------------------------------------------------------------------
# The whole comparison
# --------------------------------------------------------------------------------------------


def run_compare(
    spec: CompareSpec,
    extra: Sequence[str] = (),
    only: Sequence[str] = (),
    redo: Sequence[str] = (),
    progress: bool = True,
    table_only: bool = False,
    log: Log = print,
) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Run every row (or ``only`` these), then write the table and chart over all rows done.

    ``redo`` deletes those rows' folders first. ``table_only`` runs nothing and tabulates what
    is on disk. Returns the rows and the output paths.
    """
    for name in [*only, *redo]:
        if name != VIEW_NAME:
            spec.method(name)
    # Validate every row before running any: a typo in row 5 must not cost rows 1-4's time.
    for m in spec.methods:
        method_config(spec, m, extra)
    if spec.view is not None:
        view_config(spec, extra)
    for name in redo:
        d = view_dir(spec) if name == VIEW_NAME else method_dir(spec, spec.method(name))
        if d.exists():
            log(f"[{name}] --redo: removing {d}")
            shutil.rmtree(d)
    rows: list[dict[str, Any]] = []
    for m in spec.methods:
        if table_only or (only and m.name not in only):
            done = _read_json(method_dir(spec, m) / "result.json")
            if done is not None:
                rows.append(done)
            continue
        rows.append(run_method(spec, m, extra, progress=progress, log=log))
        write_outputs(spec, rows)  # a partial table after every row
    paths = write_outputs(spec, rows) if rows else {}
    return rows, paths
