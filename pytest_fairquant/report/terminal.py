"""The terminal summary: per method and attribute, the gap dense vs compressed and the verdict."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from . import gap_columns, sorted_records, utility_text, verdict_counts

HEADER = (
    "method",
    "attribute",
    "gap",
    "dense",
    "compressed",
    "delta",
    "bound",
    "utility",
    "verdict",
    "worst group",
    "test",
)


def _num(value: Any, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):+.4f}" if signed else f"{float(value):.4f}"


def _worst(comparison: Mapping[str, Any]) -> str:
    worst = comparison.get("worst_group")
    if isinstance(worst, Mapping):
        worst = worst.get("group")
    return "-" if worst is None else str(worst)


def one_line(records: Iterable[Mapping[str, Any]]) -> str:
    records = list(records)
    counts = verdict_counts(records)
    parts = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    noun = "comparison" if len(records) == 1 else "comparisons"
    return f"fairquant: {len(records)} {noun}: {parts}"


def summary_lines(records: Iterable[Mapping[str, Any]], *, verbosity: int = 0) -> list[str]:
    """A table of every comparison (one line under ``-q``)."""
    ordered = sorted_records(records)
    if verbosity < 0:
        return [one_line(ordered)]
    rows = [HEADER]
    for r in ordered:
        c = r["comparison"]
        base, comp = gap_columns(r.get("method"), c)
        rows.append(
            (
                str(r.get("method") or "-"),
                str(c.get("attribute") or "-"),
                str(c.get("gap")),
                _num(base),
                _num(comp),
                _num(c.get("delta"), signed=True),
                _num(c.get("upper_bound"), signed=c.get("delta") is not None),
                utility_text(c),
                str(c.get("verdict")),
                _worst(c),
                str(r["nodeid"]).rsplit("::", 1)[-1],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return [*lines, one_line(ordered)]
