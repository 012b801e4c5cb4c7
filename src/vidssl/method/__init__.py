"""vidssl.method: the pretext methods (one module each, registered in :mod:`.registry`) and the
parts they share (MoCo, shuffle similarity, the view-synthesis losses).

The package holds the one list of method modules; importing it stays light (no torch), the
modules are imported on the registry's first lookup.
"""

from __future__ import annotations

import importlib

# The one list of method modules; each registers the names it provides when imported.
METHOD_MODULES = (
    "vidssl.method.order_rate_moco",
    "vidssl.method.baselines.vcop",
    "vidssl.method.baselines.prp",
    "vidssl.method.baselines.pace",
    "vidssl.method.baselines.supervised",
)


def load_methods() -> None:
    """Import every method module, so each has registered itself."""
    for module in METHOD_MODULES:
        importlib.import_module(module)
