"""The named synthetic variants: one list of names, classes in label order, knobs checked."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from vidssl.data import variants
from vidssl.errors import ConfigError


def test_every_variant_has_ten_sorted_distinct_classes_and_help():
    for name, spec in variants.VARIANTS.items():
        assert len(spec.classes) == 10, name
        assert list(spec.classes) == sorted(spec.classes), name  # = folder label order
        assert 0.0 <= spec.scene_bias <= 1.0 and 0.0 <= spec.camera <= 1.0
        assert name in variants.variants_help() and spec.help in variants.variants_help()


def test_the_knob_values_fixed_before_the_runs():
    v = variants.VARIANTS
    assert (v["motion"].scene_bias, v["motion"].camera) == (0.0, 0.0)
    assert (v["direction"].scene_bias, v["direction"].camera) == (0.0, 0.0)
    assert (v["scene"].scene_bias, v["scene"].camera) == (0.8, 0.0)
    assert (v["phased"].scene_bias, v["phased"].camera) == (0.0, 0.0)
    assert (v["real"].scene_bias, v["real"].camera) == (0.8, 0.5)
    assert v["scene"].classes == v["motion"].classes
    assert v["real"].classes == v["phased"].classes


@pytest.mark.parametrize("value", [-0.5, 1.01, float("nan"), float("inf"), "0.5"])
def test_knobs_outside_zero_one_name_their_key(value):
    with pytest.raises(ConfigError, match="data.synthetic.camera"):
        variants.check_realism(SimpleNamespace(scene_bias=-1, camera=value))


@pytest.mark.parametrize("value", [-1, 0, 0.25, 1])
def test_knobs_in_range_or_the_variant_default_pass(value):
    variants.check_realism(SimpleNamespace(scene_bias=value, camera=value))


def test_naming_variants_needs_no_torch():
    # config and --help read this module; it must stay free of numpy and torch
    code = ("import sys, vidssl.data.variants\n"
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "[]"
