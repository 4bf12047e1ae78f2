"""The report model: the typed records every renderer reads, and their JSON form.

A :class:`SessionReport` holds the run's :class:`ComparisonRow` s (one per comparison a gate
made: the test, the gate, the method, the dense model, the split and the comparison's
``to_dict()``), its :class:`TestRecord` s (one per test that used a fairquant fixture or called
a gate: its pytest outcome and the verdicts of its gates, so a test that errored before its gate
is in the report), the settings, the compression metadata, the splits, the extra sections and
the versions. ``to_dict()`` is the JSON document (schema :data:`REPORT_SCHEMA`); ``from_dict()``
reads one back and names the entry that is malformed (:class:`ReportFormatError`), so the JSON
writer, the HTML renderer, the terminal summary and the ``fairquant`` command share one reading
of the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from ..errors import InputError

REPORT_SCHEMA = "pytest-fairquant/report/1"

#: A test's pytest outcome. ``xpassed-strict`` is an ``xfail(strict=True)`` test that passed,
#: which pytest fails; ``error`` is an error in setup or teardown (a fixture that raised, NaN
#: outputs before the gate).
Outcome = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed", "xpassed-strict"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
#: Outcomes that make pytest's exit status non-zero.
BAD_OUTCOMES = frozenset({"failed", "error", "xpassed-strict"})

MSG_NOT_A_REPORT = (
    "not a fairquant report: expected a dict with a 'comparisons' list "
    "(the JSON that --fairquant-report or `fairquant sweep` writes), got {got}"
)
MSG_BAD_ENTRY = "not a fairquant report: {where}: {problem}"


class ReportFormatError(InputError):
    """A report (dict or JSON file) that is not the shape :class:`SessionReport` writes."""


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))[:8]}"
    return f"{type(value).__name__} {value!r:.60}"


def _text(data: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        need = "a string or null" if optional else "a non-empty string"
        raise ReportFormatError(
            MSG_BAD_ENTRY.format(where=where, problem=f"{key!r} must be {need}, got {value!r:.60}")
        )
    return value


def _part(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is not None and not isinstance(value, Mapping):
        problem = f"{key!r} must be a dict or null, got {_describe(value)}"
        raise ReportFormatError(MSG_BAD_ENTRY.format(where=where, problem=problem))
    return value


def _notes(data: Mapping[str, Any], where: str) -> tuple[str, ...]:
    notes = data.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        problem = f"'notes' must be a list of strings, got {notes!r:.60}"
        raise ReportFormatError(MSG_BAD_ENTRY.format(where=where, problem=problem))
    return tuple(notes)


@dataclass(frozen=True)
class ComparisonRow:
    """One comparison a gate made (``comparison`` is ``Comparison.to_dict()``; ``diagnosis``
    and ``attribution`` are ``Diagnosis.to_dict()`` and ``Attribution.to_dict()`` when the gate
    computed them, ``notes`` why one asked for is absent)."""

    nodeid: str
    gate: str
    method: str | None
    comparison: Mapping[str, Any]
    model: str | None = None
    split: str | None = None
    diagnosis: Mapping[str, Any] | None = None
    attribution: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()

    @property
    def test(self) -> str:
        """The test's name without its file (``test_x[bnb-nf4]``)."""
        return self.nodeid.rsplit("::", 1)[-1]

    @property
    def method_label(self) -> str:
        return self.method or "dense"

    @property
    def attribute(self) -> str:
        return str(self.comparison.get("attribute") or "-")

    @property
    def gap(self) -> str:
        return str(self.comparison.get("gap") or "-")

    @property
    def metric(self) -> str:
        return str(self.comparison.get("metric") or "accuracy")

    @property
    def verdict(self) -> str:
        return str(self.comparison.get("verdict") or "error")

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What identifies the row across runs: (test, method, attribute, gap, metric)."""
        return (self.nodeid, self.method_label, self.attribute, self.gap, self.metric)

    @property
    def groups(self) -> list[Mapping[str, Any]]:
        groups = self.comparison.get("groups") or []
        return [g for g in groups if isinstance(g, Mapping)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nodeid": self.nodeid,
            "gate": self.gate,
            "method": self.method,
            "model": self.model,
            "split": self.split,
            "comparison": dict(self.comparison),
        }
        extras = {"diagnosis": self.diagnosis, "attribution": self.attribution}
        out.update({k: dict(v) for k, v in extras.items() if v is not None})
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "comparison") -> ComparisonRow:
        if isinstance(data, ComparisonRow):
            return data
        to_dict = getattr(data, "to_dict", None)
        if callable(to_dict) and not isinstance(data, Mapping):  # run.Record
            data = to_dict()
        if not isinstance(data, Mapping) or not isinstance(data.get("comparison"), Mapping):
            got = _describe(data)
            problem = f"expected a dict with 'nodeid' and a 'comparison' dict, got {got}"
            raise ReportFormatError(MSG_BAD_ENTRY.format(where=where, problem=problem))
        comparison = data["comparison"]
        inner = f"{where}.comparison"
        _text(comparison, "verdict", inner)
        for key in ("attribute", "gap", "metric"):
            _text(comparison, key, inner, optional=True)
        return cls(
            nodeid=str(_text(data, "nodeid", where)),
            gate=str(data.get("gate") or "-"),
            method=_text(data, "method", where, optional=True),
            comparison=comparison,
            model=_text(data, "model", where, optional=True),
            split=_text(data, "split", where, optional=True),
            diagnosis=_part(data, "diagnosis", where),
            attribution=_part(data, "attribution", where),
            notes=_notes(data, where),
        )


@dataclass(frozen=True)
class TestRecord:
    """One test that used a fairquant fixture or called a gate: its pytest outcome, why (the
    first line of its error, skip or xfail reason) and its gates' verdicts."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    method: str | None = None
    message: str | None = None
    verdicts: tuple[str, ...] = ()

    @property
    def test(self) -> str:
        return self.nodeid.rsplit("::", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "method": self.method,
            "message": self.message,
            "verdicts": list(self.verdicts),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "test") -> TestRecord:
        if not isinstance(data, Mapping):
            problem = f"expected a dict with 'nodeid' and 'outcome', got {_describe(data)}"
            raise ReportFormatError(MSG_BAD_ENTRY.format(where=where, problem=problem))
        outcome = data.get("outcome")
        if outcome not in OUTCOMES:
            problem = f"'outcome' must be one of {', '.join(OUTCOMES)}, got {outcome!r:.60}"
            raise ReportFormatError(MSG_BAD_ENTRY.format(where=where, problem=problem))
        verdicts = data.get("verdicts") or []
        if not isinstance(verdicts, list) or not all(isinstance(v, str) for v in verdicts):
            problem = f"'verdicts' must be a list of strings, got {verdicts!r:.60}"
            raise ReportFormatError(MSG_BAD_ENTRY.format(where=where, problem=problem))
        return cls(
            nodeid=str(_text(data, "nodeid", where)),
            outcome=outcome,
            method=_text(data, "method", where, optional=True),
            message=_text(data, "message", where, optional=True),
            verdicts=tuple(verdicts),
        )


def phase_outcome(
    when: str, outcome: str, *, wasxfail: str | None, text: str
) -> tuple[Outcome, str | None] | None:
    """What one phase's pytest report says of its test: ``(outcome, why)``, or None for a
    setup or teardown that passed. ``outcome`` is pytest's (passed, failed, skipped),
    ``wasxfail`` the xfail reason when the test was marked xfail, ``text`` the first line of the
    report's error or skip reason. A failure outside the call (setup, teardown, a crashed xdist
    worker) is an ``error``."""
    why = text or None
    if outcome == "passed":
        if when != "call":
            return None
        return ("passed", None) if wasxfail is None else ("xpassed", wasxfail or None)
    if outcome == "skipped":
        return ("skipped", why) if wasxfail is None else ("xfailed", wasxfail or None)
    if when != "call":
        return "error", why
    if text.startswith("[XPASS(strict)]"):
        return "xpassed-strict", why
    return "failed", why


def counts(values: Iterable[str]) -> dict[str, int]:
    """How many of each value, in name order."""
    return dict(sorted(Counter(values).items()))


@dataclass(frozen=True)
class SessionReport:
    """A run's report. ``comparisons`` and ``tests`` are in test order (whichever xdist worker
    made them); the same inputs and seed give the same ``to_dict()`` (no timestamps)."""

    comparisons: tuple[ComparisonRow, ...]
    tests: tuple[TestRecord, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    methods: Mapping[str, Any] = field(default_factory=dict)
    splits: Mapping[str, Any] = field(default_factory=dict)
    sections: Mapping[str, Any] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    versions: Mapping[str, Any] = field(default_factory=dict)
    schema: str = REPORT_SCHEMA

    @classmethod
    def build(
        cls,
        comparisons: Iterable[ComparisonRow | Mapping[str, Any] | Any],
        tests: Iterable[TestRecord] = (),
        **parts: Any,
    ) -> SessionReport:
        """Sorted rows, and each test's verdicts taken from its comparisons."""
        rows = sorted(
            (ComparisonRow.from_dict(c, f"comparisons[{i}]") for i, c in enumerate(comparisons)),
            key=lambda r: r.nodeid,
        )
        for name in ("methods", "splits", "sections"):
            parts[name] = dict(sorted((parts.get(name) or {}).items()))
        parts["command"] = tuple(parts.get("command") or ())
        return cls(comparisons=tuple(rows), **parts).with_tests(tests)

    def with_tests(self, tests: Iterable[TestRecord | Mapping[str, Any]]) -> SessionReport:
        """This report with ``tests`` (in test order), each given its gates' verdicts."""
        by_test: dict[str, list[str]] = {}
        for row in self.comparisons:
            by_test.setdefault(row.nodeid, []).append(row.verdict)
        records = sorted(
            (replace(t, verdicts=tuple(by_test.get(t.nodeid, ()))) for t in as_tests(list(tests))),
            key=lambda t: t.nodeid,
        )
        return replace(self, tests=tuple(records))

    @property
    def seed(self) -> Any:
        return self.settings.get("seed")

    @property
    def summary(self) -> dict[str, int]:
        """How many comparisons of each verdict."""
        return counts(r.verdict for r in self.comparisons)

    @property
    def outcomes(self) -> dict[str, int]:
        """How many tests of each pytest outcome."""
        return counts(t.outcome for t in self.tests)

    def test(self, nodeid: str) -> TestRecord | None:
        return next((t for t in self.tests if t.nodeid == nodeid), None)

    @property
    def ungated(self) -> tuple[TestRecord, ...]:
        """The tests with no comparison (an error or skip before the gate, or no gate)."""
        return tuple(t for t in self.tests if not t.verdicts)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document; ``summary`` counts verdicts, ``outcomes`` counts tests."""
        return {
            "schema": self.schema,
            "versions": dict(self.versions),
            "seed": self.seed,
            "settings": dict(self.settings),
            "command": list(self.command),
            "summary": self.summary,
            "outcomes": self.outcomes,
            "methods": dict(self.methods),
            "splits": dict(self.splits),
            "comparisons": [r.to_dict() for r in self.comparisons],
            "tests": [t.to_dict() for t in self.tests],
            "sections": dict(self.sections),
        }

    @classmethod
    def from_dict(cls, data: Any) -> SessionReport:
        """Read a report dict (``to_dict()``, or its JSON loaded); a report written before test
        records existed has none."""
        if isinstance(data, SessionReport):
            return data
        entries = data.get("comparisons") if isinstance(data, Mapping) else None
        if not isinstance(entries, list):
            raise ReportFormatError(MSG_NOT_A_REPORT.format(got=_describe(data)))
        tests = data.get("tests") or []
        if not isinstance(tests, list):
            problem = f"expected a list, got {_describe(tests)}"
            raise ReportFormatError(MSG_BAD_ENTRY.format(where="tests", problem=problem))
        parts: dict[str, Any] = {}
        for name in ("settings", "methods", "splits", "sections", "versions"):
            value = data.get(name) or {}
            if not isinstance(value, Mapping):
                problem = f"expected a dict, got {_describe(value)}"
                raise ReportFormatError(MSG_BAD_ENTRY.format(where=name, problem=problem))
            parts[name] = value
        command = data.get("command") or []
        return cls(
            comparisons=tuple(
                ComparisonRow.from_dict(c, f"comparisons[{i}]") for i, c in enumerate(entries)
            ),
            tests=tuple(TestRecord.from_dict(t, f"tests[{i}]") for i, t in enumerate(tests)),
            command=tuple(map(str, command)) if isinstance(command, list) else (),
            schema=str(data.get("schema") or REPORT_SCHEMA),
            **parts,
        )


def sorted_rows(
    records: Iterable[ComparisonRow | Mapping[str, Any] | Any],
) -> list[ComparisonRow]:
    """Records (dicts, :class:`ComparisonRow` s or the run's records) as rows, in test order."""
    return list(SessionReport.build(records).comparisons)


def as_tests(tests: Sequence[TestRecord | Mapping[str, Any]]) -> tuple[TestRecord, ...]:
    """Test records, or their dicts, as :class:`TestRecord` s."""
    return tuple(
        t if isinstance(t, TestRecord) else TestRecord.from_dict(t, f"tests[{i}]")
        for i, t in enumerate(tests)
    )


__all__ = [
    "BAD_OUTCOMES",
    "MSG_BAD_ENTRY",
    "MSG_NOT_A_REPORT",
    "OUTCOMES",
    "REPORT_SCHEMA",
    "ComparisonRow",
    "Outcome",
    "ReportFormatError",
    "SessionReport",
    "TestRecord",
    "as_tests",
    "counts",
    "phase_outcome",
    "sorted_rows",
]
