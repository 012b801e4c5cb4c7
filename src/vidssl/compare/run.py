"""Running a comparison: each row at each seed (pretraining, the view module, the evaluations
of the file's list), reusing whatever finished work its folder already holds.

A finished evaluation is read back when its JSON was written for the same config (the
fingerprint: the experiment's keys without execution-only ones, :func:`vidssl.train.run_dir.
experiment_dict`); a pretraining is reused, resumed or refused by
:func:`vidssl.train.pretrain.ensure_pretrained`, the rule ``vidssl demo`` follows too.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidssl.compare.spec import (
    VIEW_NAME,
    CompareError,
    CompareSpec,
    MethodSpec,
    method_config,
    method_dir,
    view_config,
    view_dir,
)
from vidssl.compare.table import write_outputs
from vidssl.config import Config
from vidssl.data.layouts import build_source, has_split
from vidssl.eval.features import extract_features, random_backbone
from vidssl.eval.plots import read_csv_log
from vidssl.files import write_json
from vidssl.method.registry import build_model, example_batch, get_method
from vidssl.models.flops import call_macs, count_params
from vidssl.models.view_synthesis import ViewSynthesis
from vidssl.protocols import PROTOCOLS, Scoring
from vidssl.resources import configure_threads
from vidssl.train.checkpoint import checkpoint_epoch, load_backbone
from vidssl.train.pretrain import Log, ensure_pretrained
from vidssl.train.run_dir import experiment_dict, first_difference, recorded_config
from vidssl.train.view import train_view


def _read_json(path: Path) -> dict[str, Any] | None:
    import json

    if not path.is_file():
        return None
    with path.open() as fh:
        return json.load(fh)


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

def ensure_view(spec: CompareSpec, extra: Sequence[str] = (), progress: bool = True,
                log: Log = print, seed: int | None = None) -> Path:
    """Train the comparison's view module unless a finished one with this config exists."""

    vcfg = view_config(spec, extra, seed)
    out = view_dir(spec, seed)
    ckpt = out / "checkpoint.pt"
    old = recorded_config(out, ckpt, f"[{VIEW_NAME}]", f"rerun with --redo {VIEW_NAME}")
    if old is not None and experiment_dict(old) != experiment_dict(vcfg):
        raise CompareError(
            f"{out} holds a view module trained with another config "
            f"({first_difference(experiment_dict(old), experiment_dict(vcfg))}); "
            f"rerun with --redo {VIEW_NAME}"
        )
    if ckpt.is_file() and checkpoint_epoch(ckpt) >= vcfg.train.epochs:
        log(f"[{VIEW_NAME}] view module: done ({ckpt})")
        return ckpt
    log(f"[{VIEW_NAME}] view module: training ({vcfg.train.epochs} epochs) -> {out}")
    # an unfinished module of this same config (checked above) is trained again from scratch
    return train_view(vcfg, out, progress=progress, overwrite=True)


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
            if cached is not None and experiment_dict(
                    cached.get("config") or {}, with_val=split == "val") == fingerprints[split]:
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
