"""The terminal summary: per method and attribute, the gap dense vs compressed, the verdict and,
in a pytest run, each test's outcome (a test that errored before its gate has a row too); then
each failing comparison's worst group with its change, and how much of the dense model each
variant compressed (with the compression core's warning under half)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import gap_columns, share_warning, utility_text, worst_change, worst_group
from .format import NOT_AVAILABLE, number, percent, text_table
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


def failure_lines(rows: Sequence[ComparisonRow]) -> list[str]:
    """``fairquant: fail: uniform-int2 race fvo: worst group c -0.4000 (test_x[uniform-int2])``
    for each failing comparison: who lost, by how much, in which test."""
    lines = []
    for r in rows:
        if r.verdict != "fail":
            continue
        change = worst_change(r.comparison)
        shown = "" if change is None else f" {number(change, signed=True)}"
        lines.append(
            f"fairquant: fail: {r.method_label} {r.attribute} {r.gap}: worst group "
            f"{worst_group(r.comparison)}{shown} ({r.test})"
        )
    return lines


def compression_lines(methods: Mapping[str, Any]) -> list[str]:
    """``fairquant: compressed share: bnb-int8 2.1%, uniform-int4 100.0%`` and, for a variant
    under half, the compression core's warning on a line of its own."""
    infos = {m: info for m, info in methods.items() if isinstance(info, Mapping)}
    shares = [
        f"{m} {percent(info['compressed_share'])}"
        for m, info in infos.items()
        if info.get("compressed_share") is not None
    ]
    if not shares:
        return []
    warnings = [f"fairquant: warning: {w}" for info in infos.values() if (w := share_warning(info))]
    return [f"fairquant: compressed share: {', '.join(shares)}", *warnings]


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
    methods: Mapping[str, Any] | None = None,
    verbosity: int = 0,
) -> list[str]:
    """A table of every comparison and of every test without one (one line under ``-q``);
    with ``tests`` (a pytest run) an ``outcome`` column beside the verdict. Then the
    :func:`failure_lines` and the :func:`compression_lines` of ``methods`` (the variants'
    compression metadata)."""
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
    return [
        *text_table(rows),
        *failure_lines(ordered),
        *compression_lines(methods or {}),
        one_line(ordered, known),
    ]
