"""The layering of vidssl: every import points to the same floor or a lower one.

The floors are the ones docs/ARCHITECTURE.md states (section "Floors"); this test reads them
from there, so the document and the rule cannot drift apart. Every import counts: at module
level, inside functions and under ``if TYPE_CHECKING:`` (a type hint that points up is still a
dependency a reader must follow up). Why: an arrow that points up (evaluation importing the
trainer, the model importing checkpoint code, the config loader importing the methods) makes two
floors one, so a change in the upper one can break the lower; the next such arrow fails here,
naming the module and the import.
"""

from __future__ import annotations

import re
from pathlib import Path

from helpers import import_graph

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "ARCHITECTURE.md"


def floors() -> list[tuple[str, list[str]]]:
    """``[(floor name, [module or package prefixes])]`` from the lowest floor up, as
    ARCHITECTURE.md lists them: ``N. name: `vidssl.x`, `vidssl.y` ...`` under "## Floors"."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text[text.index("\n## Floors"):]
    section = section[: section.find("\n## ", 1) if "\n## " in section[1:] else len(section)]
    out = []
    for line in section.splitlines():
        m = re.match(r"^(\d+)\. \*\*([^*]+)\*\*: (.*)$", line)
        if m:
            assert int(m.group(1)) == len(out) + 1, f"floors out of order at: {line}"
            out.append((m.group(2), re.findall(r"`(vidssl[\w.]*)`", m.group(3))))
    return out


def floor_of(module: str, table: list[tuple[str, list[str]]]) -> int:
    """The floor of the longest prefix naming ``module`` (-1 when none does)."""
    best, level = -1, -1
    for i, (_, prefixes) in enumerate(table):
        for p in prefixes:
            # the root package (the public API's names) is a floor of its own, not a prefix
            inside = p != "vidssl" and module.startswith(p + ".")
            if (module == p or inside) and len(p) > best:
                best, level = len(p), i
    return level


def test_architecture_md_states_the_floors() -> None:
    table = floors()
    assert len(table) >= 5 and all(prefixes for _, prefixes in table)


def test_every_module_has_a_floor() -> None:
    table = floors()
    assert [m for m in import_graph() if floor_of(m, table) < 0] == []


def test_every_import_points_to_the_same_or_a_lower_floor() -> None:
    table = floors()
    upward = []
    for module, deps in sorted(import_graph(type_checking=True).items()):
        mine = floor_of(module, table)
        for dep in sorted(deps):
            if module.startswith(dep + ".") and dep != "vidssl":
                continue  # a module runs its package's __init__: not an arrow of the design
                # (but a name taken from the root package, which names the public API, is)
            theirs = floor_of(dep, table)
            if theirs > mine:
                upward.append(f"{module} ({table[mine][0]}) imports {dep} ({table[theirs][0]})")
    assert upward == []


def test_the_rule_catches_an_upward_arrow() -> None:
    """The check itself: evaluation importing the trainer is reported."""
    table = floors()
    assert floor_of("vidssl.eval.features", table) < floor_of("vidssl.train.pretrain", table)
    assert floor_of("vidssl.config", table) < floor_of("vidssl.method.registry", table)
    assert floor_of("vidssl.models.view_synthesis", table) < floor_of(
        "vidssl.train.checkpoint", table)


def test_every_module_has_its_mirrored_test_file() -> None:
    """House rule: a module's tests live in tests/<path>/test_<module>.py, so a reader finds
    them from the module's name (package __init__ files and __main__ aside)."""
    from helpers import vidssl_modules

    tests = Path(__file__).resolve().parent
    missing = []
    for name, path in vidssl_modules().items():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        parts = name.split(".")[1:]
        if not (tests.joinpath(*parts[:-1]) / f"test_{parts[-1]}.py").is_file():
            missing.append(name)
    assert missing == []
