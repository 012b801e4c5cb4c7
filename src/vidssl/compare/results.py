"""A results document that ``vidssl compare --results FILE`` keeps up to date (docs/RESULTS.md).

Each comparison owns one section of the file, between the markers ``<!-- compare: KEY -->`` and
``<!-- /compare: KEY -->`` (``KEY`` = the name of the comparison's output folder). Rerunning a
comparison replaces its own section and nothing else: sections of other comparisons, and any
text outside the markers (the discussion a person writes around the tables), are kept. So the
numbers in the document are always the ones the command printed, never copied by hand.

A section holds: the command that made it, the machine it ran on (CPU model, cores, GPU, torch
version: a figure without its machine is not comparable), the date, the comparison's own
``compare.md`` (val and test tables with intervals and paired differences) and its chart, copied
next to the document (``results/<KEY>.png``) so the document renders on its own.
"""

from __future__ import annotations

import datetime
import platform
import re
import shutil
from pathlib import Path

import torch

from vidssl.errors import UserError
from vidssl.files import atomic_write
from vidssl.resources import available_cores

HEADER = """# Results

Measured tables written by `vidssl compare --config FILE --results docs/RESULTS.md`: each
comparison below is its own section, replaced whenever that comparison is rerun (text outside
the marked sections is kept). Every section names the command and the machine it came from.
"""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_description() -> str:
    """One line naming the machine: CPU model and cores, the GPU if torch sees one, torch."""
    gpu = (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
           else ", no GPU")
    return f"{cpu_model()}, {available_cores()} cores{gpu}, torch {torch.__version__}"


def _markers(key: str) -> tuple[str, str]:
    return f"<!-- compare: {key} -->", f"<!-- /compare: {key} -->"


def section_text(key: str, command: str, table_md: str, chart: str | None,
                 machine: str, date: str) -> str:
    """The marked section of one comparison."""
    begin, end = _markers(key)
    body = table_md.rstrip("\n")
    # the comparison's own title becomes the section's heading; its tables sit one level down
    lines = [begin, body.split("\n", 1)[0], "",
             f"`{command}` on {machine}, {date}.", ""]
    if chart:
        lines += [f"![{key} (test, mean and 95% interval)]({chart})", ""]
    rest = body.split("\n", 1)[1] if "\n" in body else ""
    lines += [rest.strip("\n"), end]
    return "\n".join(lines) + "\n"


def update_results(results: Path, key: str, command: str, table_md: str,
                   chart_png: Path | None, machine: str | None = None,
                   date: str | None = None) -> Path:
    """Write (or replace) the section ``key`` of the document ``results``; create the document
    with its header when it does not exist. ``chart_png`` is copied to ``results/<key>.png``
    beside the document. Returns the document's path."""
    results = Path(results)
    chart = None
    if chart_png is not None and Path(chart_png).is_file():
        target = results.parent / "results" / f"{key}.png"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(chart_png, target)
        except OSError as exc:
            raise UserError(f"--results {results}: cannot write its chart {target} "
                            f"({exc.strerror or exc})") from None
        chart = f"results/{key}.png"
    section = section_text(key, command, table_md, chart, machine or machine_description(),
                           date or datetime.date.today().isoformat())
    begin, end = _markers(key)
    try:
        text = results.read_text() if results.is_file() else HEADER
    except OSError as exc:
        raise UserError(f"--results {results}: cannot read it ({exc.strerror or exc})") from None
    if text.count(begin) != text.count(end) or text.count(begin) > 1:
        raise UserError(f"--results {results}: the markers of section '{key}' are broken "
                        f"({text.count(begin)} '{begin}' and {text.count(end)} '{end}'); "
                        "mend them by hand so that nothing written around them is lost")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    try:
        results.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(results, text)
    except OSError as exc:
        raise UserError(f"--results {results}: cannot write it ({exc.strerror or exc})") from None
    return results
