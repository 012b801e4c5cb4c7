"""The built-in synthetic motion data set as a layout: generated from ``data.synthetic``, no root.

The generator itself is :mod:`vidssl.data.synthetic`; this hook only adapts it to the layout
contract (``source(data_cfg, split)``, ``has_val(data_cfg)``). It imports the generator (and
with it torch) when first called, not at import: the layout table stays light, so the config
loader checks ``data.dataset`` against :data:`~vidssl.data.layouts.LAYOUTS` without torch.
"""

from __future__ import annotations

from typing import Any

from vidssl.data.records import VideoSource


def source(data_cfg: Any, split: str) -> VideoSource:
    """The generated videos of ``split`` (train, test, val or all)."""
    from vidssl.data.synthetic import synthetic_source

    return synthetic_source(data_cfg.synthetic, split)


def has_val(data_cfg: Any) -> bool:
    """A val split exists unless ``data.synthetic.val_per_class`` is 0."""
    from vidssl.data.synthetic import per_class

    return per_class(data_cfg.synthetic, "val") > 0
