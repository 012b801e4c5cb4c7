"""The compare file: its schema, its checks, and the configs of its rows.

Everything here happens before anything runs: a typo in row 5 must not cost rows 1-4's time.
The format is documented in :mod:`vidssl.compare`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vidssl.config import Config, ConfigError, load_config, resolve_config_path
from vidssl.errors import UserError
from vidssl.method.registry import check_config
from vidssl.protocols import PROTOCOLS

VIEW_NAME = "_view"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# ``reference: previous``: each row's paired differences against the row above it.
PREVIOUS = "previous"


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
