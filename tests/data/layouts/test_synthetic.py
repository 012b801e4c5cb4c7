"""The synthetic data as a layout: its sources through build_source, a val split unless
val_per_class is 0, and the generator imported only when videos are asked for (the layout
table stays light for the config loader)."""

from __future__ import annotations

import subprocess
import sys

from vidssl.config import load_config
from vidssl.data.layouts import LAYOUTS, build_source, has_split

TINY = ["data.synthetic.size=16", "data.synthetic.min_frames=12", "data.synthetic.max_frames=12",
        "data.synthetic.train_per_class=1", "data.synthetic.test_per_class=1"]


def test_sources_and_the_val_split() -> None:
    data = load_config(None, [*TINY, "data.synthetic.val_per_class=1"]).data
    train = build_source(data, "train")
    assert len(train) == len(train.classes) and has_split(data, "val")
    assert len(build_source(data, "val")) == len(train.classes)
    assert not has_split(load_config(None, [*TINY, "data.synthetic.val_per_class=0"]).data,
                         "val")
    assert LAYOUTS["synthetic"].in_memory and LAYOUTS["synthetic"].labelled


def test_the_layout_table_loads_without_the_generator() -> None:
    code = ("import sys, vidssl.data.layouts\n"
            "print('vidssl.data.synthetic' in sys.modules, 'torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.split() == ["False", "False"]
