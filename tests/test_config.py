"""Configs: every shipped YAML loads; bad keys and values fail naming the key; includes merge."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vidssl.config import PACKAGE_CONFIGS, ConfigError, load_config
from vidssl.method.registry import check_config


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(PACKAGE_CONFIGS) for p in PACKAGE_CONFIGS.rglob("*.yaml")),
    ids=str,
)
def test_every_shipped_config_loads(path: Path) -> None:
    if path.parts[0] == "compare":  # a list of methods: every row's config must load
        from vidssl.compare.spec import load_compare, method_config, view_config

        spec = load_compare(Path("configs") / path)
        for method in spec.methods:
            method_config(spec, method)
        if any(m.view for m in spec.methods):
            view_config(spec)
        return
    check_config(load_config(Path("configs") / path))  # and the method's own checks


def test_loading_a_config_imports_no_torch_and_no_method() -> None:
    """The loader sits below the methods: reading a YAML file stays fast and light (the
    methods' checks run after it, :func:`vidssl.method.registry.check_config`)."""
    code = ("import sys, vidssl.config\n"
            "vidssl.config.load_config('configs/demo.yaml')\n"
            "print('torch' in sys.modules,\n"
            "      any(m.startswith('vidssl.method') for m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.split() == ["False", "False"]


def test_dataset_names_come_from_the_layouts() -> None:
    from vidssl.data.layouts import LAYOUTS

    with pytest.raises(ConfigError, match="data.dataset must be one of " + ", ".join(LAYOUTS)):
        load_config(None, ["data.dataset=ucf102"])


def test_include_then_override(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("train: {epochs: 7, batch_size: 8}\nmodel: {width: 0.5}\n")
    (tmp_path / "child.yaml").write_text("include: base.yaml\ntrain: {epochs: 3}\n")
    cfg = load_config(tmp_path / "child.yaml", ["model.width=0.25", "contrastive.queue_size=64"])
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.model.width) == (3, 8, 0.25)


def test_default_projection_dim_is_multiple_of_n_nearest_128() -> None:
    assert load_config(None, ["sampler.n_segments=3"]).projection_dim() == 129
    assert load_config(None, ["sampler.n_segments=4"]).projection_dim() == 128
    assert load_config(None, ["sampler.n_segments=5"]).projection_dim() == 130


@pytest.mark.parametrize(
    "override, message",
    [
        ("sampler.n_segments=1", r"sampler\.n_segments"),
        ("model.proj_dim=100", r"model\.proj_dim=100 is not divisible"),
        ("data.bogus=3", r"unknown config key 'data\.bogus'"),
        ("train.epochs=three", r"train\.epochs: expected an integer"),
        ("contrastive.similarity=dot", r"contrastive\.similarity must be one of"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_old_view_width_loads_as_view_channels_with_one_line(tmp_path: Path, capsys) -> None:
    """view.width was a channel count beside model.width, a multiplier; it is view.channels
    now, and configs, checkpoints and compare folders that still say view.width load."""
    from vidssl import config

    config._warned_renames.clear()
    old = tmp_path / "old.yaml"
    old.write_text("view: {width: 8, latent: 4}\n")
    cfg = load_config(old)
    assert cfg.view.channels == 8 and "width" not in cfg.to_dict()["view"]
    assert load_config(None, ["view.width=6"]).view.channels == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vidssl: view.width is now called view.channels; reading it as view.channels"]
    with pytest.raises(ConfigError, match="view.width and view.channels are both set"):
        load_config(None, ["view.width=6", "view.channels=6"])
