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
    seeds: [0, 1, 2]                # optional: every row runs once per seed (--seeds overrides)
    reference: order                # optional: the row paired differences are taken against
                                    # (default: the first row); `previous`: each row against
                                    # the row above it (a ladder: what each rung adds)

A row's config is ``base`` + ``overrides`` + the row's ``overrides`` + the command line's
``KEY=VALUE`` (last wins), with ``train.out_dir`` set to ``<out_dir>/<name>/pretrain``. The view
module's is ``view.config`` (or ``base``) + ``overrides`` + ``view.overrides`` + the command
line's. All configs are built and validated before anything runs.

Seeds (independent replicates): with ``seeds`` each row runs once per seed in
``<out_dir>/<name>/seed<k>/`` (the view module in ``<out_dir>/_view/seed<k>``), with
``train.seed=k``. The training seed drives everything random about a run: initial weights
(random init's too), sample order, clip draws and augmentation, MoCo's queue, the held-out
pretext clips. The data do not vary: every seed trains and is tested on the same synthetic
videos (``data.synthetic.seed`` stays as configured), so two rows at the same seed are a pair
measured on the same test set, and the interval is over training replicates, not over test
sets. Without ``seeds`` a row runs once, in ``<out_dir>/<name>/``, as before seeds existed
(those folders stay valid; a compare file that gains ``seeds`` runs its seeds beside them and
leaves them alone). ``train.seed`` cannot be overridden in a compare with seeds.

Validation and test: where the data set has a val split (synthetic: ``val_per_class``;
folder: ``data.val_list``), pretext, retrieval and probe are also scored on val (retrieval: val
videos query the train videos; probe: fitted on train, scored on val), cached in
``<evaluation>-val.json``. Choose hyperparameters on val; report test.

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

Outputs in ``out_dir``: ``compare.md`` (val table first, then test: mean and 95% t-interval
over seeds per metric, and each row's paired difference against ``reference`` with its
interval), ``compare.json`` (every seed's numbers and the summaries), ``compare.png`` (bar
chart of the test metrics with the intervals as error bars).
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

from vidssl.config import (
    Config,
    ConfigError,
    load_config,
    rename_old_keys,
    resolve_config_path,
    upgrade_legacy_keys,
)
from vidssl.data.layouts import build_source, has_split
from vidssl.errors import UserError
from vidssl.eval.features import extract_features, random_backbone
from vidssl.eval.plots import plot_bars, read_csv_log
from vidssl.files import atomic_write, write_json
from vidssl.method.registry import (
    build_model,
    check_config,
    example_batch,
    get_method,
)
from vidssl.models.flops import call_macs, count_params
from vidssl.models.view_synthesis import ViewSynthesis
from vidssl.protocols import PROTOCOLS, Column, Scoring
from vidssl.resources import configure_threads
from vidssl.train.checkpoint import load_backbone, load_checkpoint
from vidssl.train.pretrain import pretrain
from vidssl.train.view import train_view

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
# Settings that only say which videos form the val split: only val evaluations depend on them
# (and runs from before the val split existed, whose configs lack them, stay valid).
_VAL_KEYS = (("data", "val_list"), ("data", "synthetic", "val_per_class"))


class CompareError(UserError, ValueError):
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
    seeds: list[int] | None = None  # None: one run per row in its own folder (no seed folders)
    # row that paired differences are taken against; "" = the first row; PREVIOUS = each row
    # against the row above it
    reference: str = ""

    def reference_name(self) -> str:
        return self.reference or self.methods[0].name

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
    _check_keys(raw, ("name", "base", "overrides", "evaluations", "out_dir", "methods", "view",
                      "seeds", "reference"), where)
    for key in ("base", "out_dir", "methods"):
        if key not in raw:
            raise CompareError(f"{where}: '{key}' is required")
    evaluations = raw.get("evaluations", ["pretext", "retrieval", "probe"])
    if not isinstance(evaluations, list) or any(e not in PROTOCOLS for e in evaluations):
        raise CompareError(f"{where}: evaluations must be a list drawn from "
                           f"{', '.join(PROTOCOLS)}; got {evaluations!r}")
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
    seeds = check_seeds(raw["seeds"], f"{where}: seeds") if "seeds" in raw else None
    if PREVIOUS in {m.name for m in methods}:
        raise CompareError(f"{where}: '{PREVIOUS}' is reserved (reference: {PREVIOUS} pairs each "
                           "row with the row above it); give that method another name")
    reference = str(raw.get("reference") or "")
    if reference and reference not in {m.name for m in methods} | {PREVIOUS}:
        raise CompareError(f"{where}: reference '{reference}' is not a method name "
                           f"(methods: {', '.join(m.name for m in methods)}) or '{PREVIOUS}'")
    return CompareSpec(
        seeds=seeds,
        reference=reference,
        view=view_spec,
        name=str(raw.get("name", source.stem if source else "compare")),
        base=_resolve_relative(str(raw["base"]), source),
        out_dir=Path(str(raw["out_dir"])),
        methods=methods,
        overrides=_str_list(raw.get("overrides"), f"{where}: overrides"),
        evaluations=list(evaluations),
        source=source,
    )


def check_seeds(value: Any, where: str = "seeds") -> list[int]:
    """A non-empty list of distinct integers >= 0 (each names a folder ``seed<k>``)."""
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise CompareError(f"{where}: expected a non-empty list of integers >= 0 such as "
                           f"[0, 1, 2]; got {value!r}")
    if len(set(value)) != len(value):
        raise CompareError(f"{where}: seeds repeat in {value!r}")
    return list(value)


def parse_seeds(text: str) -> list[int]:
    """``--seeds 0,1,2`` -> ``[0, 1, 2]``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CompareError(f"--seeds: expected integers separated by commas such as 0,1,2; "
                           f"got {text!r}") from None
    return check_seeds(values, "--seeds")


def load_compare(path: str | Path) -> CompareSpec:
    """Read a compare YAML file (``yaml.safe_load``) into a :class:`CompareSpec`."""
    p = resolve_config_path(path).resolve()
    with p.open() as fh:
        try:
            raw = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise CompareError(f"{p}: not valid YAML: {exc}") from exc
    return parse_compare(raw, p)


def method_dir(spec: CompareSpec, method: MethodSpec, seed: int | None = None) -> Path:
    """A row's folder: ``<out_dir>/<name>``, or ``<out_dir>/<name>/seed<k>`` for seed ``k``."""
    d = spec.out_dir / method.name
    return d if seed is None else d / f"seed{seed}"


def _seed_overrides(overrides: Sequence[str], seed: int | None, who: str) -> list[str]:
    """``train.seed=<seed>`` for a replicate, refusing a ``train.seed`` set another way."""
    if seed is None:
        return []
    for o in overrides:
        if o.replace(" ", "").startswith("train.seed="):
            raise CompareError(f"{who}: '{o}' conflicts with seeds (each seed sets train.seed); "
                               "list the seeds in 'seeds:' or --seeds instead")
    return [f"train.seed={seed}"]


def method_config(spec: CompareSpec, method: MethodSpec, extra: Sequence[str] = (),
                  seed: int | None = None) -> Config:
    """The row's experiment config (see the module docstring for the order of overrides)."""
    d = method_dir(spec, method, seed)
    given = [*spec.overrides, *method.overrides, *extra]
    overrides = [*given, *_seed_overrides(given, seed, f"method '{method.name}'"),
                 f"train.out_dir={d / 'pretrain'}", f"name={method.name}"]
    if method.view:
        overrides.append(f"view.checkpoint={view_dir(spec, seed) / 'checkpoint.pt'}")
    try:
        cfg = load_config(spec.base, overrides)
        check_config(cfg)
    except ConfigError as exc:
        raise CompareError(f"method '{method.name}': {exc}") from exc
    return cfg


def view_dir(spec: CompareSpec, seed: int | None = None) -> Path:
    """Where the comparison's view module is trained (``_`` cannot start a method name); one
    per seed, as it is part of each replicate's pretraining."""
    d = spec.out_dir / VIEW_NAME
    return d if seed is None else d / f"seed{seed}"


def view_config(spec: CompareSpec, extra: Sequence[str] = (), seed: int | None = None) -> Config:
    """The config the comparison's view module is trained with."""
    if spec.view is None:
        raise CompareError(f"{spec.source}: no top-level 'view' section")
    given = [*spec.overrides, *spec.view["overrides"], *extra]
    overrides = [*given, *_seed_overrides(given, seed, "view module"), "view.checkpoint=",
                 f"train.out_dir={view_dir(spec, seed)}"]
    try:
        return load_config(spec.view["config"] or spec.base, overrides)
    except ConfigError as exc:
        raise CompareError(f"view module: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Fingerprints: is a folder's result still the result of this config?
# --------------------------------------------------------------------------------------------


def experiment_dict(cfg: Config | dict[str, Any], drop: Sequence[str] = (),
                    with_val: bool = False) -> dict[str, Any]:
    """The config as a dict without execution-only keys (and without sections in ``drop``);
    the val split's keys only ``with_val`` (for results on val)."""
    # a dict read from an older run folder gets today's key names, so it compares equal
    d = copy.deepcopy(cfg.to_dict() if isinstance(cfg, Config)
                      else rename_old_keys(upgrade_legacy_keys(cfg, note=False)))
    d.pop("name", None)
    for section, keys in _EXECUTION_KEYS.items():
        for k in keys:
            d.get(section, {}).pop(k, None)
    if not with_val:
        for *path, key in _VAL_KEYS:
            node = d
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(key, None)
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


def training_cost(cfg: Config) -> dict[str, float]:
    """Backbone parameters and GMACs per training sample of the configured method (on its
    registry entry's example batch of one sample)."""

    with torch.device("meta"):
        model = build_model(cfg)
        batch = example_batch(cfg, 1)
    macs = call_macs(model, batch)
    if cfg.view.checkpoint and get_method(cfg.method).view_keys and cfg.loss.contrastive > 0:

        # The generator as trained (its checkpoint's arch), else as the config describes it.
        arch = {"width": cfg.view.channels, "latent": cfg.view.latent}
        if Path(cfg.view.checkpoint).is_file():
            arch = torch.load(cfg.view.checkpoint, map_location="cpu", weights_only=True)["arch"]
        with torch.device("meta"):
            gen = ViewSynthesis(**{k: int(v) for k, v in arch.items()}).generator
        macs += cfg.view.p * call_macs(gen, batch["clip"])
    return {"params_m": count_params(model.backbone) / 1e6, "gmacs": macs / 1e9}


# --------------------------------------------------------------------------------------------
# Running one row
# --------------------------------------------------------------------------------------------

Log = Callable[[str], None]


def _recorded_config(out: Path, ckpt: Path, who: str, hint: str) -> dict[str, Any] | None:
    """The config a run folder was made with: its ``config.yaml``, else (a folder that lost
    it) the config its checkpoint stores; ``None`` for a folder with neither (nothing ran).
    A checkpoint with nothing to check it against is refused: reusing it could report results
    under a name that is not what ran."""
    old = _read_yaml(out / "config.yaml")
    if old is not None or not ckpt.is_file():
        return old
    stored = load_checkpoint(ckpt, map_location="cpu").get("config")
    if not isinstance(stored, dict):
        raise CompareError(f"{who}: {ckpt} has no config.yaml beside it and stores no config, "
                           f"so nothing says what it was trained with; {hint}")
    return stored


def _checkpoint_epoch(path: Path) -> int:

    return int(load_checkpoint(path, map_location="cpu").get("epoch", 0))


def ensure_view(spec: CompareSpec, extra: Sequence[str] = (), progress: bool = True,
                log: Log = print, seed: int | None = None) -> Path:
    """Train the comparison's view module unless a finished one with this config exists."""

    vcfg = view_config(spec, extra, seed)
    out = view_dir(spec, seed)
    ckpt = out / "checkpoint.pt"
    old = _recorded_config(out, ckpt, f"[{VIEW_NAME}]", f"rerun with --redo {VIEW_NAME}")
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
    # an unfinished module of this same config (checked above) is trained again from scratch
    return train_view(vcfg, out, progress=progress, overwrite=True)


def ensure_pretrained(cfg: Config, progress: bool, log: Log, tag: str, *,
                      what: str = "", restart_hint: str = "") -> Path:
    """The checkpoint of a finished pretraining in ``train.out_dir``: reused when it is done,
    resumed when it stopped early, started when absent. A folder pretrained with another
    experiment (evaluation sections and execution-only keys aside; without ``config.yaml``,
    the config the checkpoint stores) is refused, naming the first difference, ``what`` ran
    there and ``restart_hint`` (how to start again).
    ``vidssl compare`` (one row per method) and ``vidssl demo`` both decide here."""

    out = Path(cfg.train.out_dir)
    ckpt = out / "checkpoint.pt"
    restart = restart_hint or "start it again in another folder"
    old = _recorded_config(out, ckpt, what or tag, restart)
    want = experiment_dict(cfg, drop=_EVAL_SECTIONS)
    if old is not None and experiment_dict(old, drop=_EVAL_SECTIONS) != want:
        diff = _first_difference(experiment_dict(old, drop=_EVAL_SECTIONS), want)
        raise CompareError(f"{what or tag}: {out} was pretrained with another config ({diff}); "
                           f"{restart}")
    if ckpt.is_file():
        done = _checkpoint_epoch(ckpt)
        if done >= cfg.train.epochs:
            log(f"[{tag}] pretraining: done ({done} epochs)")
            return ckpt
        log(f"[{tag}] pretraining: resuming at epoch {done} of {cfg.train.epochs}")
        return pretrain(cfg, resume=ckpt, progress=progress)
    log(f"[{tag}] pretraining: {cfg.train.epochs} epochs -> {out}")
    return pretrain(cfg, progress=progress)


def _pretrain_seconds(cfg: Config) -> float | None:

    path = Path(cfg.train.out_dir) / "metrics.csv"
    if not path.is_file():
        return None
    secs = read_csv_log(path).get("seconds")
    return float(np.nansum(secs)) if secs is not None and len(secs) else None


def run_method(spec: CompareSpec, method: MethodSpec, extra: Sequence[str] = (),
               progress: bool = True, log: Log = print, seed: int | None = None
               ) -> dict[str, Any]:
    """Pretrain (or resume) one row (at ``seed``), run its missing evaluations on test and, where
    the data set has one, val; return its result dict (val results under ``"val"``)."""

    cfg = method_config(spec, method, extra, seed)
    d = method_dir(spec, method, seed)
    tag = method.name if seed is None else f"{method.name} seed {seed}"
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    configure_threads(cfg.train.threads)

    ckpt: Path | None = None
    if method.pretrain:
        if method.view:
            ensure_view(spec, extra, progress, log, seed)
        ckpt = ensure_pretrained(cfg, progress, log, tag,
                                 what=f"method '{method.name}'",
                                 restart_hint=f"rerun with --redo {method.name} to start it "
                                 "again")

    fingerprints = {"test": experiment_dict(cfg), "val": experiment_dict(cfg, with_val=True)}
    result: dict[str, Any] = {"name": method.name, "label": method.label or method.name,
                              "method": cfg.method if method.pretrain else "random",
                              "pretrained": method.pretrain, "seed": cfg.train.seed}
    if method.pretrain:
        cost = training_cost(cfg)
        result.update(cost)
        result["pretrain_minutes"] = (_pretrain_seconds(cfg) or math.nan) / 60
    else:

        result["params_m"] = count_params(random_backbone(cfg)) / 1e6

    features: dict[str, Any] = {}

    def backbone() -> torch.nn.Module:
        if ckpt is not None:
            return load_backbone(ckpt)[0]
        return random_backbone(cfg)

    net_cache: list[torch.nn.Module] = []

    def shared_features(split: str) -> tuple[Any, Any]:
        """(train, ``split``) features: one extraction per split, one backbone for all."""

        if not net_cache:
            net_cache.append(backbone())
        for sp in ("train", split):
            if sp not in features:
                features[sp] = extract_features(net_cache[0], build_source(cfg.data, sp), cfg,
                                                progress=progress,
                                                desc=f"{method.name} {sp} features")
        return features["train"], features[split]

    # Val first: it is what hyperparameters are chosen on. Fine-tuning is scored on test only.
    splits = ["val", "test"] if has_split(cfg.data, "val") else ["test"]
    for ev in spec.evaluations:
        protocol = PROTOCOLS[ev]
        for split in [sp for sp in splits if sp in protocol.splits]:
            path = d / (f"{ev}.json" if split == "test" else f"{ev}-{split}.json")
            cached = _read_json(path)
            if cached is not None and upgrade_legacy_keys(
                    cached.get("config") or {}, note=False) == fingerprints[split]:
                _store(result, split, ev, cached["result"])
                continue
            if protocol.pretrained_only and ckpt is None:
                continue  # e.g. random init has no pretext model
            log(f"[{tag}] {protocol.describe(cfg, split)}")
            res = protocol.run(Scoring(cfg, split, backbone, shared_features, d / ev,
                                       checkpoint=ckpt, progress=progress))
            write_json(path, {"config": fingerprints[split], "result": res})
            # as JSON reads it back (tensors -> lists)
            _store(result, split, ev, _read_json(path)["result"])
    result["seconds_this_run"] = time.perf_counter() - t0
    write_json(d / "result.json", result)
    return result


def _store(result: dict[str, Any], split: str, evaluation: str, value: Any) -> None:
    """Test results at the top level of a row's result (as before val existed), val's under
    ``result["val"]``."""
    (result if split == "test" else result.setdefault("val", {}))[evaluation] = value


# --------------------------------------------------------------------------------------------
# The table and the chart
# --------------------------------------------------------------------------------------------

# A row's cost (not an evaluation: the same at every seed), after the protocols' columns.
COST_COLUMNS = (Column("GMACs/sample", "gmacs", 1, "{:.3g}"),
                Column("params (M)", "params_m", 1, "{:.3g}"),
                Column("pretrain min", "pretrain_minutes", 1, "{:.1f}"))


def columns() -> list[tuple[str, str, str, float, str]]:
    """``(title, evaluation, key, scale, format)`` of every column: each protocol's result
    columns (:data:`vidssl.protocols.PROTOCOLS`, in table order), then the cost (evaluation
    "")."""
    out = [(c.title, name, c.key, c.scale, c.fmt)
           for name, protocol in PROTOCOLS.items() for c in protocol.columns]
    return out + [(c.title, "", c.key, c.scale, c.fmt) for c in COST_COLUMNS]


def chart_columns() -> tuple[str, ...]:
    """The columns drawn in compare.png: the protocols' headline metrics."""
    return tuple(c.title for p in PROTOCOLS.values() for c in p.columns if c.chart)


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
        for title, ev, key, scale, _ in columns():
            v = _cell(row, ev, key)
            if v is not None:
                vals[title] = v * scale
        out[row.get("label") or row["name"]] = vals
    return out


def markdown_table(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """Rows = methods, columns = the metrics any row has; "–" where a row has none."""
    values = table_values(rows)
    cols = [(t, f) for t, _, _, _, f in columns() if any(t in v for v in values.values())]
    lines = [f"## {title}", ""] if title else []
    lines.append("| method | " + " | ".join(t for t, _ in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for label, vals in values.items():
        cells = [f.format(vals[t]) if t in vals else "–" for t, f in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Seeds: mean and 95% interval per metric, paired differences against the reference row
# --------------------------------------------------------------------------------------------

# ``reference: previous``: each row's paired differences against the row above it.
PREVIOUS = "previous"

# Table order: val (choose on it) before test (report it).
TABLE_SPLITS = ("val", "test")
LEVEL = 0.95


def split_result(result: dict[str, Any], split: str) -> dict[str, Any]:
    """One run's result as :func:`table_values` reads it, for ``split``: test results live at the
    top level (with the cost), val's under ``"val"``."""
    if split == "test":
        return result
    return {"name": result["name"], "label": result.get("label", ""), **result.get(split, {})}


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float | None]:
    """Mean and half-width of the t-interval ``mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)``
    (``sd`` with n-1 degrees of freedom); no interval (``None``) from one value."""
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if n < 2:
        return mean, None
    return mean, float(t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))


def interval(values: dict[str, float]) -> dict[str, Any]:
    """``{"values": {seed: value}, "n", "mean", "ci95"}`` (``ci95``: half-width or None)."""
    mean, half = mean_ci(list(values.values()))
    return {"values": dict(values), "n": len(values), "mean": mean, "ci95": half}


def _per_seed(row: dict[str, Any], split: str) -> dict[str, dict[str, float]]:
    """``{column title: {seed: scaled value}}`` of one row's runs on ``split``."""
    out: dict[str, dict[str, float]] = {}
    for seed, result in row["runs"].items():
        vals = next(iter(table_values([split_result(result, split)]).values()))
        for title, v in vals.items():
            out.setdefault(title, {})[seed] = v
    return out


def summarise(rows: Sequence[dict[str, Any]], split: str) -> dict[str, dict[str, Any]]:
    """``{row label: {column title: interval over seeds}}`` for ``split``."""
    return {_label(row): {title: interval(per) for title, per in _per_seed(row, split).items()}
            for row in rows}


def paired_differences(rows: Sequence[dict[str, Any]], reference: str,
                       split: str) -> dict[str, dict[str, Any]]:
    """Each row minus the ``reference`` row (by name; :data:`PREVIOUS`: minus the row above
    it), seed by seed: the same seed makes a pair (same videos, same seed for everything
    random), and the interval is the paired t-interval. ``above_zero`` / ``below_zero``: the
    whole interval lies on that side (never with one pair, which has no interval). Only
    evaluation metrics (not cost); only seeds both rows ran."""
    if reference == PREVIOUS:
        pairs = list(zip(rows[1:], rows[:-1]))
    else:
        ref = next((r for r in rows if r["name"] == reference), None)
        if ref is None:
            return {}
        pairs = [(row, ref) for row in rows if row is not ref]
    cost = {t for t, ev, *_ in columns() if not ev}
    per_seed = {id(r): _per_seed(r, split) for r in rows}  # once per row, not once per pair
    out: dict[str, dict[str, Any]] = {}
    for row, ref in pairs:
        base = per_seed[id(ref)]
        cols: dict[str, Any] = {}
        for title, per in per_seed[id(row)].items():
            seeds = [k for k in per if k in base.get(title, {})]
            if title in cost or not seeds:
                continue
            iv = interval({k: per[k] - base[title][k] for k in seeds})
            half = iv["ci95"]
            iv["above_zero"] = half is not None and iv["mean"] - half > 0
            iv["below_zero"] = half is not None and iv["mean"] + half < 0
            cols[title] = iv
        out[_label(row) if reference != PREVIOUS else f"{_label(row)} − {_label(ref)}"] = cols
    return out


def _label(row: dict[str, Any]) -> str:
    return row.get("label") or row["name"]


# Columns that are the same at every seed (the architecture's cost): no interval shown.
_FIXED = ("GMACs/sample", "params (M)")


def _fmt_interval(iv: dict[str, Any] | None, fmt: str, signed: bool = False) -> str:
    if iv is None:
        return "–"
    f = fmt.replace("{:", "{:+") if signed else fmt
    text = f.format(iv["mean"])
    if iv["ci95"] is not None:
        text += " ± " + fmt.format(iv["ci95"])
    if iv.get("above_zero"):
        text += " ↑"
    elif iv.get("below_zero"):
        text += " ↓"
    return text


def _interval_table(summary: dict[str, dict[str, Any]], signed: bool = False,
                    prefix: str = "") -> list[str]:
    cols = [(t, f) for t, _, _, _, f in columns() if any(t in v for v in summary.values())]
    lines = ["| method | " + " | ".join(prefix + t for t, _ in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for label, vals in summary.items():
        cells = [_fmt_interval(vals.get(t), f, signed) if t not in _FIXED
                 else _fmt_interval({**vals[t], "ci95": None}, f) if t in vals else "–"
                 for t, f in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def summary_markdown(spec: CompareSpec, rows: Sequence[dict[str, Any]]) -> str:
    """compare.md: per split (val first), the mean ± 95% interval table and the paired
    differences against the reference row, then what the numbers mean (tables first: the
    reader came for them)."""
    splits = [sp for sp in TABLE_SPLITS
              if sp == "test" or any(sp in run for r in rows for run in r["runs"].values())]
    seeds = sorted({k for r in rows for k in r["runs"]}, key=lambda k: (len(k), k))
    n_max = max((len(r["runs"]) for r in rows), default=0)
    ref = spec.reference_name()
    ref_label = ("the row above" if ref == PREVIOUS
                 else next((_label(r) for r in rows if r["name"] == ref), None))
    if ref_label is None:
        ref_label = f"{ref} (not run yet: no differences)"
    lines = [f"## {spec.name}"]
    intro: list[str] = []  # what the cells mean: after the tables, which come first
    if n_max >= 2:
        intro.append(f"Mean ± half-width of the {LEVEL:.0%} t-interval over training seeds "
                     f"({', '.join(seeds)}; every seed sees the same videos). Δ: the row minus "
                     f"{ref_label}, seed by seed (paired t-interval); ↑ / ↓: the whole interval "
                     "lies above / below zero.")
    else:
        intro.append("One seed per row: values without intervals (list `seeds: [0, 1, 2]` in "
                     f"the compare file, or --seeds 0,1,2, for intervals). Δ: the row minus "
                     f"{ref_label}.")
    for sp in splits:
        title = {"val": "Validation split: choose hyperparameters on these",
                 "test": "Test split: report these; never choose on them"}[sp]
        if len(splits) == 1:
            title = "Test split (this data set has no val split to choose on)"
        lines += ["", f"### {title}", ""]
        lines += _interval_table(summarise(rows, sp))
        diffs = paired_differences(rows, ref, sp)
        if any(diffs.values()):
            lines += ["", f"Paired difference against {ref_label} ({sp}):", ""]
            lines += _interval_table(diffs, signed=True, prefix="Δ ")
    lines += [
        "", *intro, "",
        "Accuracies in percent. Pretext metrics on held-out clips of the split; retrieval: the "
        "split's videos query the train videos; probe: logistic regression fitted on frozen "
        "train-video features, scored on the split; fine-tune: 10-clip video top-1 (test only). "
        "Rate MSE and contr. loss: lower is better. GMACs/sample: forward multiply-accumulates "
        "of every network one training sample passes through (Table VIII).",
        "",
    ]
    return "\n".join(lines)


def write_outputs(spec: CompareSpec, rows: Sequence[dict[str, Any]]) -> dict[str, Path]:
    """``compare.md``, ``compare.json`` and (when there is something to draw) ``compare.png``.

    ``rows``: ``{"name", "label", "runs": {seed: result}}`` per row (see :func:`run_compare`).
    """

    out = spec.out_dir
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "compare.md", "json": out / "compare.json"}
    atomic_write(paths["md"], summary_markdown(spec, rows))
    ref = spec.reference_name()
    write_json(paths["json"], {
        "name": spec.name, "evaluations": spec.evaluations, "seeds": spec.seeds,
        "reference": ref, "level": LEVEL, "methods": list(rows),
        "summary": {sp: summarise(rows, sp) for sp in TABLE_SPLITS},
        "differences": {sp: paired_differences(rows, ref, sp) for sp in TABLE_SPLITS},
    })
    summary = summarise(rows, "test")
    chart = [c for c in chart_columns() if any(c in v for v in summary.values())]
    if chart:
        paths["png"] = plot_bars(
            {k: {c: v[c]["mean"] for c in chart if c in v} for k, v in summary.items()},
            out / "compare.png", title=f"{spec.name} (test)", metrics=chart,
            errors={k: {c: v[c]["ci95"] for c in chart if c in v and v[c]["ci95"] is not None}
                    for k, v in summary.items()})
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
    """Run every row (or ``only`` these) at every seed, then write the table and chart over
    all runs done.

    Seeds are the outer loop: after the first seed the whole table exists (without intervals)
    and each further seed narrows it. ``redo`` deletes those rows' folders (every seed) first.
    ``table_only`` runs nothing and tabulates what is on disk. Returns the rows
    (``{"name", "label", "runs": {seed: result}}``, seed as a string: the run's
    ``train.seed``) and the output paths.
    """
    for name in [*only, *redo]:
        if name != VIEW_NAME:
            spec.method(name)
    seeds: list[int | None] = list(spec.seeds) if spec.seeds else [None]
    # Validate every row before running any: a typo in row 5 must not cost rows 1-4's time.
    configs = {(m.name, seed): method_config(spec, m, extra, seed)
               for seed in seeds for m in spec.methods}
    if spec.view is not None:
        for seed in seeds:
            view_config(spec, extra, seed)
    for name in redo:
        d = view_dir(spec) if name == VIEW_NAME else method_dir(spec, spec.method(name))
        if d.exists():
            log(f"[{name}] --redo: removing {d}")
            shutil.rmtree(d)
    if spec.seeds:
        for m in spec.methods:
            if (method_dir(spec, m) / "result.json").is_file():
                log(f"[{m.name}] {method_dir(spec, m)} also holds a run from before seeds; it "
                    "is left as it is and not tabulated (the seeds run in seed<k>/)")
    runs: dict[str, dict[str, dict[str, Any]]] = {m.name: {} for m in spec.methods}

    def rows() -> list[dict[str, Any]]:
        return [{"name": m.name, "label": m.label or m.name, "runs": runs[m.name]}
                for m in spec.methods if runs[m.name]]

    for seed in seeds:
        for m in spec.methods:
            key = str(configs[(m.name, seed)].train.seed)
            if table_only or (only and m.name not in only):
                done = _read_json(method_dir(spec, m, seed) / "result.json")
                if done is not None:
                    runs[m.name][key] = done
                continue
            runs[m.name][key] = run_method(spec, m, extra, progress=progress, log=log,
                                           seed=seed)
            write_outputs(spec, rows())  # a partial table after every run
    done_rows = rows()
    paths = write_outputs(spec, done_rows) if done_rows else {}
    return done_rows, paths
