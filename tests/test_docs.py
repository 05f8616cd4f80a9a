"""Figures the docs quote from the benchmark record agree with it."""

from __future__ import annotations

import json
import re

from conftest import REPO

# The overhead table's rows, in results.json's order of setups.
OVERHEAD_FIGURES = ("training pass alone", "whole epochs")


def overhead_record() -> dict[str, dict[str, float]]:
    """{setup: {figure: value}} of the overhead section of benchmarks/results.json."""
    rows = json.loads((REPO / "benchmarks" / "results.json").read_text())["rows"]
    record: dict[str, dict[str, float]] = {}
    for row in rows:
        figure = row["figure"].split(":")[0]
        if row["section"] == "overhead" and figure in OVERHEAD_FIGURES:
            record.setdefault(row["configuration"], {})[figure] = row["value"]
    return record


def test_the_overhead_table_and_the_readme_quote_the_record() -> None:
    page = (REPO / "BENCHMARKS.md").read_text()
    table = page[page.index("| setup | training pass alone") :].split("\n\n")[0]
    shown = [re.findall(r"\| (\d\.\d\d) \(", line) for line in table.splitlines()[2:]]
    recorded = [
        [f"{figures[name]:.2f}" for name in OVERHEAD_FIGURES]
        for figures in overhead_record().values()
    ]
    assert shown == recorded
    passes = sorted(figures[0] for figures in recorded)
    readme = (REPO / "README.md").read_text()
    assert f"training pass runs at {passes[0]}-{passes[-1]} of a bare PyTorch loop" in readme
