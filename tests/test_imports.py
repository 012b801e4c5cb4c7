"""The import graph: no cycles (counting imports inside functions too), every module imports
on its own, and ``vidssl --help`` loads neither torch nor the training code.

Why: a cycle hidden inside a function works until someone moves the import to the top, or
imports the other module first; it also means two modules are one idea cut in the wrong place.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import import_graph, strongly_connected, vidssl_modules


def test_no_import_cycles_even_through_function_level_imports() -> None:
    graph = import_graph()
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    for m in graph:
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    assert strongly_connected(graph) == []


def test_no_package_level_cycle_even_through_type_checking_imports() -> None:
    """Collapsed to the top-level packages and modules (vidssl.eval, vidssl.train, vidssl.config,
    ...), counting imports in functions and under TYPE_CHECKING: the arrows between parts of
    vidssl never close a loop (the root package, which names the public API, aside)."""
    def part(m: str) -> str:
        return ".".join(m.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for m, deps in import_graph(type_checking=True).items():
        if m == "vidssl":
            continue
        packages.setdefault(part(m), set()).update(
            part(d) for d in deps if d != "vidssl" and part(d) != part(m))
    assert strongly_connected(packages) == []


@pytest.mark.slow
def test_every_module_imports_on_its_own() -> None:
    """Each module in a fresh interpreter (one process for all, a fresh module table each)."""
    names = sorted(vidssl_modules())
    code = (
        "import importlib, sys\n"
        "base = set(sys.modules)\n"
        "bad = []\n"
        f"for name in {names!r}:\n"
        "    for m in [m for m in sys.modules if m.startswith('vidssl')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{name}: {exc!r}')\n"
        "print('\\n'.join(bad))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == ""


def test_help_does_not_load_torch() -> None:
    code = ("import sys\nfrom vidssl.cli import build_parser\nbuild_parser()\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('vidssl.train')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "[]"


def test_benchmark_scripts_import_names_vidssl_has() -> None:
    """benchmarks/*.py are scripts no test runs: a module moved by a refactor (vidssl.results ->
    vidssl.compare.results) would break them unseen. Every ``from vidssl... import name`` in
    them must resolve."""
    import ast
    import importlib
    import importlib.util
    from pathlib import Path

    bad = []
    for script in sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vidssl")):
                continue
            try:
                module = importlib.import_module(node.module)
            except ImportError as exc:
                bad.append(f"{script.name}: {exc}")
                continue
            bad += [f"{script.name}: {node.module} has no {a.name}" for a in node.names
                    if not hasattr(module, a.name)
                    and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
    assert bad == []
