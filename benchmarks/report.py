"""docs/benchmarks.md in named sections, so that one command can rewrite its own part and keep the rest.

Each section sits between `<!-- section: NAME -->` and `<!-- end: NAME -->`; a section not in the
file yet is added at the end. A file from before sections is kept as it is (its figures stay until
a whole `make bench` replaces them), unless `fresh`.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from bot.config import ROOT

OUT = ROOT / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEach section says the command that wrote it, when, and on which machine.\n"


def machine() -> str:
    """A one-line description of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )


def update(sections: dict[str, list[str]], path: Path = OUT, fresh: bool = False) -> None:
    """Replace (or add) these sections of `path`, keeping every other one.

    `fresh`: a file from before sections is replaced (every section is being written anew).
    """
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if "<!-- section:" not in text and fresh:
        text = HEADER
    for name, lines in sections.items():
        block = f"<!-- section: {name} -->\n" + "\n".join(lines).rstrip() + f"\n<!-- end: {name} -->\n"
        pattern = re.compile(rf"<!-- section: {re.escape(name)} -->\n.*?<!-- end: {re.escape(name)} -->\n", re.DOTALL)
        found = pattern.search(text)
        text = text[: found.start()] + block + text[found.end() :] if found else text.rstrip() + "\n\n" + block
    path.write_text(text, encoding="utf-8")
