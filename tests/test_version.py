"""One version number: the package's, the CLI's and the one an export records."""

from __future__ import annotations

import re
from pathlib import Path

import vidssl
from vidssl.version import __version__


def test_the_package_and_pyproject_agree() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == __version__
    assert vidssl.__version__ == __version__
