"""The terminal summary: per method and attribute, the gap dense vs compressed, the verdict and,
in a pytest run, each test's outcome (a test that errored before its gate has a row too)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import gap_columns, utility_text, worst_group
from .format import NOT_AVAILABLE, number, text_table
from .model import ComparisonRow, TestRecord, as_tests, counts, sorted_rows

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
#: The column a pytest run adds after ``verdict``.
OUTCOME = "outcome"


def one_line(rows: Sequence[ComparisonRow], tests: Sequence[TestRecord] = ()) -> str:
    """``fairquant: 2 comparisons: 1 fail, 1 pass; 3 tests: 1 error, 2 passed``."""
    noun = "comparison" if len(rows) == 1 else "comparisons"
    verdicts = ", ".join(f"{n} {v}" for v, n in counts(r.verdict for r in rows).items())
    line = f"fairquant: {len(rows)} {noun}: {verdicts}" if rows else "fairquant: no comparisons"
    if tests:
        noun = "test" if len(tests) == 1 else "tests"
        outcomes = ", ".join(f"{n} {o}" for o, n in counts(t.outcome for t in tests).items())
        line += f"; {len(tests)} {noun}: {outcomes}"
    return line


def _row(r: ComparisonRow) -> list[str]:
    c = r.comparison
    base, comp = gap_columns(r)
    return [
        r.method or "-",
        r.attribute,
        str(c.get("gap")),
        number(base),
        number(comp),
        number(c.get("delta"), signed=True),
        number(c.get("upper_bound"), signed=c.get("delta") is not None),
        utility_text(c),
        r.verdict,
        worst_group(c),
        r.test,
    ]


def _ungated(t: TestRecord) -> list[str]:
    """The row of a test without a comparison: its outcome, and why in the test column."""
    why = f"{t.test}: {t.message}" if t.message else t.test
    return [t.method or "-", "-", "-", *[NOT_AVAILABLE] * 4, "-", "-", "-", why]


def summary_lines(
    records: Iterable[ComparisonRow | Mapping[str, Any] | Any],
    *,
    tests: Sequence[TestRecord | Mapping[str, Any]] = (),
    verbosity: int = 0,
) -> list[str]:
    """A table of every comparison and of every test without one (one line under ``-q``);
    with ``tests`` (a pytest run) an ``outcome`` column beside the verdict."""
    ordered = sorted_rows(records)
    known = as_tests(tests)
    if verbosity < 0:
        return [one_line(ordered, known)]
    outcome = {t.nodeid: t.outcome for t in known}
    gated = {r.nodeid for r in ordered}
    body = [(r.nodeid, _row(r), outcome.get(r.nodeid, "-")) for r in ordered]
    body += [(t.nodeid, _ungated(t), t.outcome) for t in known if t.nodeid not in gated]
    body.sort(key=lambda entry: entry[0])
    at = HEADER.index("verdict") + 1
    if known:
        rows = [[*HEADER[:at], OUTCOME, *HEADER[at:]]]
        rows += [[*cells[:at], shown, *cells[at:]] for _, cells, shown in body]
    else:
        rows = [list(HEADER), *(cells for _, cells, _ in body)]
    return [*text_table(rows), one_line(ordered, known)]
