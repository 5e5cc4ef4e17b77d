"""Benchmarks write their results into one section each of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Measured by the scripts in `bench/` (`make bench`, or `python -m bench.<name>`). Machines here are
shared and noisy, so every figure that matters is a ratio measured in the same run as its
baseline; absolute numbers are for orientation only. Each section is rewritten by its script.
"""


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, body: str) -> Path:
    """Replace (or add) the section ``name`` of docs/benchmarks.md with ``body``."""
    text = REPORT.read_text() if REPORT.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{begin}\n## {name}\n\n_Run {stamp} on {machine()}._\n\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{section}\n"
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    return REPORT
