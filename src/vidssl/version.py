"""The package version, in a module of its own so that code on any floor can record it (an
exported model's metadata) without importing the package root, which names the public API."""

from __future__ import annotations

__version__ = "0.1.0"
