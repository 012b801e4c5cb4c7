"""vidssl: self-supervised video representation learning (segment order, sampling rate,
shuffle-similarity MoCo, view-synthesis keys)."""

__version__ = "0.1.0"
