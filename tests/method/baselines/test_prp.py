"""PRP-style rate classification: the rate classes are the powers of two in the range, and the
label is the frame step actually used."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import frame_index_transform, index_source

from vidssl.config import ConfigError, load_config
from vidssl.method.baselines.prp import power_of_two_rates
from vidssl.method.baselines.rate_clips import RateClipDataset
from vidssl.method.registry import check_config


def test_prp_rate_label_is_the_frame_step() -> None:
    rates = power_of_two_rates(1, 8)
    assert rates == [1, 2, 4, 8]
    ds = RateClipDataset(index_source([200] * 8), frame_index_transform, rates, clip_len=6, seed=3)
    seen = set()
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            steps = np.diff(item["clip"].numpy())
            k = int(item["rate"])
            assert (steps == rates[k]).all()
            assert float(item["step"]) == rates[k]
            seen.add(k)
    assert seen == {0, 1, 2, 3}


def test_rate_range_must_hold_two_powers_of_two() -> None:
    with pytest.raises(ConfigError, match="powers of two"):
        check_config(load_config(None, ["method=prp", "sampler.rate_min=3", "sampler.rate_max=7"]))
