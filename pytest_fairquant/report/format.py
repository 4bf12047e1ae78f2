"""How every renderer writes a number: the failure text, the terminal summary, the HTML report
and the ``fairquant`` command all format through these functions, so one value reads the same
everywhere.

The rules: four decimals; ``signed=True`` for changes (``+0.0120``); a value that rounds to
zero never prints as ``-0.0000``; anything that is not a finite number (None, NaN, an undefined
value, a bool, a string) is ``n/a``. A p-value below 1e-4 switches to scientific notation
(``3.2e-07``) where four decimals would read 0.0000. Intervals are ``[lo, hi]`` of two such
numbers, ``n/a`` when either end is missing. Compression metadata reads as people quote it:
sizes in MiB, ratios to two decimals (``3.97×``), shares and sparsities as percentages.

It imports nothing from the package, so the gates can use it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Decimals of every number the reports show.
DECIMALS = 4
#: What a missing or undefined value reads as.
NOT_AVAILABLE = "n/a"


def as_float(value: Any) -> float:
    """``value`` as a float: NaN for None, bools, non-numbers and undefined values; a JSON
    undefined value (``{"value": ..., "reason": ...}``) gives its ``value``."""
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping) and "value" in value:
        return as_float(value["value"])
    return math.nan


def number(value: Any, signed: bool = False) -> str:
    """Four decimals (``0.1037``; ``+0.0120`` when ``signed``), or ``n/a``."""
    x = as_float(value)
    if not math.isfinite(x):
        return NOT_AVAILABLE
    x = round(x, DECIMALS) + 0.0  # no "-0.0000" for a rounding-level negative
    return f"{x:+.{DECIMALS}f}" if signed else f"{x:.{DECIMALS}f}"


def p_value(value: Any) -> str:
    """Four decimals, or scientific notation where those would read 0.0000 (``3.2e-07``)."""
    x = as_float(value)
    if math.isfinite(x) and 0 < x < 10**-DECIMALS:
        return f"{x:.1e}"
    return number(x)


def interval(lo: Any, hi: Any, signed: bool = True) -> str:
    """``[lo, hi]`` of two numbers (signed by default: intervals are of changes), or ``n/a``."""
    a, b = as_float(lo), as_float(hi)
    if not (math.isfinite(a) and math.isfinite(b)):
        return NOT_AVAILABLE
    return f"[{number(a, signed)}, {number(b, signed)}]"


def interval_of(value: Any, signed: bool = True) -> str:
    """:func:`interval` of a stored pair (a JSON list or a tuple), ``n/a`` for anything else."""
    pair = bounds(value)
    return NOT_AVAILABLE if pair is None else interval(*pair, signed=signed)


def bounds(value: Any) -> tuple[float, float] | None:
    """A stored interval as two finite floats, or None."""
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        lo, hi = as_float(value[0]), as_float(value[1])
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi
    return None


def mebibytes(value: Any) -> str:
    """A byte count in MiB to two decimals (``44.59 MiB``), or ``n/a``."""
    x = as_float(value)
    return f"{x / 2**20:.2f} MiB" if math.isfinite(x) else NOT_AVAILABLE


def ratio(value: Any) -> str:
    """A size ratio to two decimals (``3.97×``), or ``n/a`` (an infinite ratio too)."""
    x = as_float(value)
    return f"{x:.2f}×" if math.isfinite(x) else NOT_AVAILABLE


def percent(value: Any) -> str:
    """A fraction in [0, 1] as a percentage to one decimal (``2.1%``), or ``n/a``."""
    x = as_float(value)
    return f"{x:.1%}" if math.isfinite(x) else NOT_AVAILABLE


def text_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, trailing blanks stripped (terminal and CLI)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


__all__ = [
    "DECIMALS",
    "NOT_AVAILABLE",
    "as_float",
    "bounds",
    "interval",
    "interval_of",
    "mebibytes",
    "number",
    "p_value",
    "percent",
    "ratio",
    "text_table",
]
