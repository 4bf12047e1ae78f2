"""The ``fairquant`` command: list methods, run a sweep without tests, render and compare reports.

``fairquant methods`` lists the compression methods with their availability;
``fairquant sweep --model pkg:fn --data pkg:fn --methods ...`` drives the plugin's run object
(:class:`~pytest_fairquant.run.FairnessRun`), so it gives the verdicts a test would, and writes
the same report; ``fairquant report results.json --html out.html``
renders a report; ``fairquant compare old.json new.json`` prints what changed between two runs
and exits 1 on any change for the worse that no ``--allow`` names (:data:`COMPARE_DESCRIPTION`).

Exit codes: 0 success, 1 a failing gate (``sweep``) or a regression (``compare``), 2 a usage
error (bad path, unreadable JSON, a malformed report entry, unknown method), always as one line
on stderr; ``sweep`` adds 3 (a method errored) and 4 (both), see :data:`SWEEP_EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import functools
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, Protocol

from .errors import ConfigError, FairquantError
from .report.format import as_float, bounds, interval, number, text_table
from .report.model import REPORT_SCHEMA, ComparisonRow, SessionReport, TestRecord

MSG_NO_FILE = "{path}: no such file"
MSG_BAD_JSON = "{path}: not readable as JSON: {error}"
MSG_NOT_REPORT = (
    "{path}: not a fairquant report (no 'schema' starting with pytest-fairquant/report/)"
)
MSG_NO_METHODS = (
    "--methods: give at least one method id (see `fairquant methods`) or --candidate "
    "NAME=MODULE:CALLABLE, or set fairquant_methods (or fairquant_quantization / "
    "fairquant_pruning, or fairquant_candidates) in the pytest configuration file"
)
MSG_NO_FACTORY = (
    "--{name}: give the {name} factory as MODULE:CALLABLE, or set fairquant_{name} in the "
    "pytest configuration file (pyproject.toml [tool.pytest.ini_options], pytest.ini, tox.ini "
    "or setup.cfg) that the sweep reads from the working directory or -c"
)
MSG_NO_CONFIG = "-c {path}: no such file; give the pytest configuration file to read settings from"
MSG_BAD_REPORT_PATH = "--report={path}: must end in .json or .html"

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line or its files: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# --------------------------------------------------------------------------- reading reports


def load_report(path: str | Path) -> SessionReport:
    """A report JSON file, checked to be one; :class:`UsageError` with one clear line naming
    the file (and the malformed entry) if not."""
    from .report.model import ReportFormatError, SessionReport

    p = Path(path)
    if not p.is_file():
        raise UsageError(MSG_NO_FILE.format(path=path))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UsageError(MSG_BAD_JSON.format(path=path, error=str(err).splitlines()[0])) from err
    if not (
        isinstance(data, dict)
        and str(data.get("schema", "")).startswith("pytest-fairquant/report/")
        and isinstance(data.get("comparisons"), list)
    ):
        raise UsageError(MSG_NOT_REPORT.format(path=path))
    try:
        return SessionReport.from_dict(data)
    except ReportFormatError as err:
        raise UsageError(f"{path}: {err}") from err


# --------------------------------------------------------------------------- compare

#: How bad a verdict is: a change to a higher rank is a regression. An unknown verdict ranks
#: with ``error``.
VERDICT_RANK = {"pass": 0, "inconclusive": 1, "insufficient_data": 1, "fail": 2, "error": 3}
#: How bad a test's outcome is (see :data:`VERDICT_RANK`).
OUTCOME_RANK = {
    "passed": 0,
    "xpassed": 0,
    "skipped": 1,
    "xfailed": 1,
    "failed": 2,
    "xpassed-strict": 2,
    "error": 3,
}
#: The fields an ``--allow`` pattern can name: a row's key, and the kind of change.
ALLOW_FIELDS = ("test", "method", "attribute", "gap", "metric", "change")
#: The kinds of change for the worse (the ``change`` field of ``--allow``).
CHANGE_KINDS = ("verdict", "outcome", "interval", "removed", "new")
ALLOW_HELP = (
    "let a change for the worse through (repeatable). FIELD=PATTERN[,FIELD=PATTERN...] with "
    "FIELD one of test, method, attribute, gap, metric, change and PATTERN a shell-style "
    "wildcard (fnmatch: * ? [ab]) matched against the whole value; a regression is allowed "
    "when every FIELD of one --allow matches it. test is the test id (tests/x.py::test_y[m]), "
    f"change one of {', '.join(CHANGE_KINDS)}. A test's outcome has no attribute, gap or "
    "metric: a pattern naming one never allows it. Example: --allow "
    "'method=uniform-int2,change=verdict'"
)
COMPARE_DESCRIPTION = (
    "Match the comparisons of two reports by test, method, attribute, gap and metric, and the "
    "tests by id; print the gap and verdict before and after, and every test whose outcome "
    "changed. Every change for the worse is a regression: a verdict that got worse (pass < "
    "inconclusive = insufficient_data < fail < error), a test outcome that got worse (passed < "
    "skipped = xfailed < failed < error), a row or test the new report lacks, a new row or "
    "test that does not pass, or a significant regression of the gap (its change from the "
    "dense model grew and the two runs' intervals do not overlap). Exit 0 when there is none "
    "(or --allow lets every one through), 1 when there is one, 2 on a usage error (a "
    "malformed report: the file and entry are named)."
)

MSG_REMOVED = "removed: the old report has it, the new one does not"
MSG_BAD_ALLOW = "--allow {text!r}: {problem}; see fairquant compare --help"
MSG_REGRESSION = "fairquant compare: {n} regression(s) between {old} and {new}"


@dataclass(frozen=True)
class Allow:
    """One ``--allow``: (field, pattern) pairs that must all match a regression."""

    text: str
    patterns: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> Allow:
        patterns = []
        for part in text.split(","):
            field_name, sep, pattern = part.partition("=")
            field_name = field_name.strip()
            if not sep:
                raise UsageError(MSG_BAD_ALLOW.format(text=text, problem="expected FIELD=PATTERN"))
            if field_name not in ALLOW_FIELDS:
                problem = f"unknown field {field_name!r} (one of {', '.join(ALLOW_FIELDS)})"
                raise UsageError(MSG_BAD_ALLOW.format(text=text, problem=problem))
            if not pattern:
                problem = f"{field_name}= has an empty pattern"
                raise UsageError(MSG_BAD_ALLOW.format(text=text, problem=problem))
            patterns.append((field_name, pattern))
        return cls(text, tuple(patterns))

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(
            name in fields and fnmatch.fnmatchcase(fields[name], pattern)
            for name, pattern in self.patterns
        )


def _worse(rank: Mapping[str, int], old: str, new: str) -> str | None:
    top = max(rank.values())
    if rank.get(new, top) > rank.get(old, top):
        return f"was {old}, now {new}"
    return None


def _new_and_not_passing(verdict: str, rank: Mapping[str, int]) -> str | None:
    if rank.get(verdict, max(rank.values())) == 0:
        return None
    return "new, and it fails" if verdict == "fail" else f"new, and {verdict}"


@dataclass(frozen=True)
class Change:
    """One comparison matched across two reports (``old`` or ``new`` is None when unmatched).
    ``allowed_by`` is the ``--allow`` that lets its regression through."""

    key: tuple[str, str, str, str, str]
    old: ComparisonRow | None
    new: ComparisonRow | None
    allowed_by: str | None = None

    @property
    def verdicts(self) -> tuple[str, str]:
        return (_verdict(self.old), _verdict(self.new))

    @property
    def worse(self) -> tuple[str, str] | None:
        """``(kind, why)`` when this change is for the worse (kind: :data:`CHANGE_KINDS`)."""
        if self.new is None:
            return "removed", MSG_REMOVED
        if self.old is None:
            why = _new_and_not_passing(self.new.verdict, VERDICT_RANK)
            return None if why is None else ("new", why)
        why = _worse(VERDICT_RANK, self.old.verdict, self.new.verdict)
        if why is not None:
            return "verdict", why
        old_iv = bounds(self.old.comparison.get("interval"))
        new_iv = bounds(self.new.comparison.get("interval"))
        if old_iv is not None and new_iv is not None and new_iv[0] > old_iv[1]:
            return "interval", f"gap change grew: interval {interval(*new_iv)} is above " + (
                interval(*old_iv)
            )
        return None

    @property
    def regression(self) -> str | None:
        """Why this change is for the worse, or None (see ``fairquant compare --help``)."""
        worse = self.worse
        return None if worse is None else worse[1]

    def fields(self) -> dict[str, str]:
        """What an ``--allow`` pattern is matched against."""
        kind = self.worse
        names = ("test", "method", "attribute", "gap", "metric")
        return {**dict(zip(names, self.key, strict=True)), "change": kind[0] if kind else ""}


@dataclass(frozen=True)
class OutcomeChange:
    """One test matched across two reports by its id."""

    nodeid: str
    old: TestRecord | None
    new: TestRecord | None
    allowed_by: str | None = None

    @property
    def worse(self) -> tuple[str, str] | None:
        if self.new is None:
            return "removed", MSG_REMOVED
        if self.old is None:
            why = _new_and_not_passing(self.new.outcome, OUTCOME_RANK)
            return None if why is None else ("new", why)
        why = _worse(OUTCOME_RANK, self.old.outcome, self.new.outcome)
        return None if why is None else ("outcome", why)

    @property
    def regression(self) -> str | None:
        worse = self.worse
        return None if worse is None else worse[1]

    def fields(self) -> dict[str, str]:
        record = self.new or self.old
        method = (record.method if record else None) or "dense"
        kind = self.worse
        return {"test": self.nodeid, "method": method, "change": kind[0] if kind else ""}


def _verdict(row: ComparisonRow | None) -> str:
    return "-" if row is None else row.verdict


def _keyed(report: SessionReport) -> dict[tuple[str, str, str, str, str], ComparisonRow]:
    """The report's rows by (test, method, attribute, gap, metric). A test that made the same
    comparison twice (two tolerances, say) keeps both: the second is ``test#2``."""
    out: dict[tuple[str, str, str, str, str], ComparisonRow] = {}
    for row in report.comparisons:
        key, n = row.key, 1
        while key in out:
            n += 1
            key = (f"{row.nodeid}#{n}", *row.key[1:])
        out[key] = row
    return out


def _allowed(change: Any, allows: Sequence[Allow]) -> Any:
    if change.worse is None:
        return change
    fields = change.fields()
    rule = next((a for a in allows if a.matches(fields)), None)
    return change if rule is None else replace(change, allowed_by=rule.text)


def diff_reports(
    old: Mapping[str, Any] | SessionReport,
    new: Mapping[str, Any] | SessionReport,
    allows: Sequence[Allow] = (),
) -> list[Change]:
    """Every comparison of either report, matched by (test, method, attribute, gap, metric)."""
    before, after = _keyed(SessionReport.from_dict(old)), _keyed(SessionReport.from_dict(new))
    keys = list(dict.fromkeys([*before, *after]))
    return [_allowed(Change(k, before.get(k), after.get(k)), allows) for k in keys]


def diff_tests(
    old: Mapping[str, Any] | SessionReport,
    new: Mapping[str, Any] | SessionReport,
    allows: Sequence[Allow] = (),
) -> list[OutcomeChange]:
    """Every test whose outcome changed (or that only one report has); none when either
    report has no test records (a sweep, or a report older than them)."""
    a, b = SessionReport.from_dict(old), SessionReport.from_dict(new)
    if not (a.tests and b.tests):
        return []
    before = {t.nodeid: t for t in a.tests}
    after = {t.nodeid: t for t in b.tests}
    changes = [
        OutcomeChange(n, before.get(n), after.get(n)) for n in dict.fromkeys([*before, *after])
    ]
    return [
        _allowed(c, allows)
        for c in changes
        if c.old is None or c.new is None or c.old.outcome != c.new.outcome
    ]


def _note(change: Change | OutcomeChange) -> str:
    why = change.regression
    if why is None:
        return "new" if change.old is None else ""
    if change.allowed_by is not None:
        return f"allowed by --allow {change.allowed_by}: {why}"
    return f"REGRESSION: {why}"


def _gap_text(row: ComparisonRow | None) -> str:
    return "-" if row is None else number(row.comparison.get("compressed_gap"))


def format_changes(changes: Sequence[Change], outcomes: Sequence[OutcomeChange] = ()) -> list[str]:
    """The comparisons' table, then (when a test's outcome changed) the tests' table."""
    head = ("test", "method", "attribute", "gap", "metric", "old gap", "new gap", "Δ", "verdict")
    rows = [(*head, "note")]
    for ch in changes:
        old_gap = as_float(ch.old.comparison.get("compressed_gap")) if ch.old else math.nan
        new_gap = as_float(ch.new.comparison.get("compressed_gap")) if ch.new else math.nan
        old_v, new_v = ch.verdicts
        rows.append(
            (
                ch.key[0].rsplit("::", 1)[-1],
                *ch.key[1:],
                _gap_text(ch.old),
                _gap_text(ch.new),
                number(new_gap - old_gap, signed=True),
                old_v if old_v == new_v else f"{old_v} -> {new_v}",
                _note(ch),
            )
        )
    lines = text_table(rows)
    if outcomes:
        tests = [("test", "method", "outcome", "why", "note")]
        for oc in outcomes:
            record = oc.new or oc.old
            tests.append(
                (
                    oc.nodeid.rsplit("::", 1)[-1],
                    (record.method if record else None) or "-",
                    f"{oc.old.outcome if oc.old else '-'} -> {oc.new.outcome if oc.new else '-'}",
                    (oc.new.message if oc.new else None) or "-",
                    _note(oc),
                )
            )
        lines += ["", *text_table(tests)]
    return lines


def cmd_compare(args: argparse.Namespace) -> int:
    allows = [Allow.parse(text) for text in args.allow or ()]
    old, new = load_report(args.old), load_report(args.new)
    changes, outcomes = diff_reports(old, new, allows), diff_tests(old, new, allows)
    for line in format_changes(changes, outcomes):
        print(line)
    every: list[Change | OutcomeChange] = [*changes, *outcomes]
    worse = [c for c in every if c.regression]
    regressions = [c for c in worse if c.allowed_by is None]
    if regressions:
        print(
            MSG_REGRESSION.format(n=len(regressions), old=args.old, new=args.new), file=sys.stderr
        )
        return EXIT_FAIL
    allowed = f"; {len(worse)} allowed by --allow" if worse else ""
    print(f"fairquant compare: no significant regression ({len(changes)} comparisons{allowed})")
    return EXIT_OK


# --------------------------------------------------------------------------- report


def _write_html(report: SessionReport, path: Path) -> None:
    from .report.html import render
    from .report.jsonreport import write_json

    write_json(path, render(report), text=True)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import check_report_path

    check_report_path(args.html, flag="--html", with_json=False)
    report = load_report(args.results)
    _write_html(report, Path(args.html))
    print(f"fairquant: HTML report written to {args.html}")
    return EXIT_OK


# --------------------------------------------------------------------------- methods


def cmd_methods(args: argparse.Namespace) -> int:
    from .compression import compression_methods

    rows = [("method", "available", "source", "what it does / why not")]
    for status in compression_methods(check=args.check):
        if args.available and not status.available:
            continue
        why = status.description if status.available else f"{status.description} ({status.reason})"
        available = "yes" if status.available else "no"
        rows.append((status.id, available, status.source or "-", why))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        cells = [cell.ljust(width) for cell, width in zip(r, widths, strict=False)]
        print("  ".join([*cells, r[3]]).rstrip())
    print("(source: the paper the method is taken from, listed in docs/metrics.md, or its tool)")
    if not args.check:
        print(
            "(availability from the installed packages; fairquant methods --check imports each "
            "backend, as a test run does)"
        )
    return EXIT_OK


# --------------------------------------------------------------------------- sweep

#: Sweep flags that are plugin settings (validated by the same option table).
_SETTING_FLAGS = (
    "attribute",
    "gap",
    "metric",
    "tolerance",
    "alpha",
    "n_boot",
    "n_permutations",
    "seed",
    "device",
    "batch_size",
    "min_group_size",
    "min_positives",
    "max_utility_drop",
    "correction",
    "inconclusive",
    "subsample",
    "cache_dir",
)

#: ``fairquant sweep`` exit codes beyond EXIT_OK/EXIT_FAIL/EXIT_USAGE.
EXIT_ERROR, EXIT_FAIL_AND_ERROR = 3, 4
SWEEP_EXIT_CODES = (
    "exit codes: 0 every gate passed (or its undecided verdict was let through by "
    "--inconclusive xfail/skip/pass-with-warning; methods that cannot run here are skipped "
    "with the reason); 1 a gate failed, or stayed undecided under --inconclusive fail (the "
    "default, as in pytest); 2 a usage error (bad flag, path, factory or method id, or no "
    "method at all); 3 a method could not be compressed or evaluated (its error row is in the "
    "report; the other methods completed); 4 both 1 and 3."
)


def _progress(items: Sequence[str], desc: str) -> Iterable[str]:
    """A progress bar on a terminal; the plain items in logs and pipes."""
    if not sys.stderr.isatty():
        return items
    from tqdm import tqdm

    bar: Iterable[str] = tqdm(items, desc=desc, unit="method", file=sys.stderr)
    return bar


def _flags(text: str) -> str:
    """A plugin message as the command's flags name it."""
    return text.replace("--fairquant-candidates=", "--candidate ").replace("--fairquant-", "--")


def _sweep_settings(args: argparse.Namespace) -> Any:
    """The sweep's settings as the plugin resolves them: flags > the pytest configuration file
    (``-c``, else the one pytest would find from the working directory) > defaults."""
    from .settings import find_ini, ini_pythonpath, read_ini, resolve

    cli = {name: getattr(args, name) for name in _SETTING_FLAGS}
    cli.update(model=args.model, data=args.data)
    if args.methods:
        cli["methods"] = ",".join(args.methods)
    if getattr(args, "candidate", None):
        cli["candidates"] = ",".join(args.candidate)
    ini_file = None if args.no_config else (args.config_file or find_ini(Path.cwd()))
    ini: dict[str, Any] = {}
    if ini_file is not None:
        if not Path(ini_file).is_file():
            raise UsageError(MSG_NO_CONFIG.format(path=ini_file))
        try:
            ini, unknown = read_ini(ini_file)
            # As pytest does before it imports conftest.py and the tests that name factories.
            sys.path[:0] = [str(d) for d in ini_pythonpath(ini_file) if str(d) not in sys.path]
        except ConfigError as err:
            raise UsageError(str(err)) from err
        for key in unknown:
            print(
                f"fairquant: warning: {ini_file}: unknown setting {key} (ignored)", file=sys.stderr
            )
    if not cli.get("methods") and not ini.get("methods"):
        # As the fixtures run them: quantized_model over the quantization list, pruned_model
        # over the pruning list; only what the configuration file names (no built-in default).
        configured = [*_as_list(ini.get("quantization")), *_as_list(ini.get("pruning"))]
        if configured:
            cli["methods"] = ",".join(configured)
    try:
        settings = resolve(cli, ini, ini_file=None if ini_file is None else str(ini_file))
    except ConfigError as err:
        raise UsageError(_flags(str(err))) from err
    for name in ("model", "data"):
        if getattr(settings, name) is None:
            raise UsageError(MSG_NO_FACTORY.format(name=name))
    return settings


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [
        part for item in items for part in str(item).replace(",", " ").split() if part != "none"
    ]


def _check_methods(run: Any) -> None:
    """Unknown ids and an unusable --device are usage errors, before any model is loaded."""
    try:
        run.check_methods(("methods",))
        run.check_candidates()
        run.check_device()
    except ConfigError as err:
        raise UsageError(_flags(str(err))) from err


def _load(run: Any, name: str) -> Any:
    try:
        return run.load(name)
    except ConfigError as err:
        raise UsageError(_flags(str(err))) from err


def sweep_nodeid(method: str) -> str:
    """The report's test id of one sweep row (every attribute's comparison shares it)."""
    return f"fairquant sweep[{method}]"


def run_sweep(
    settings: Any, *, command: Sequence[str], ray: str | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """Gate every method and candidate of ``settings`` as the plugin's tests would; the session
    report dict and each one's :class:`~pytest_fairquant.run.Check`. With ``ray`` (a Ray address, or
    ``""`` for Ray's default) the models are evaluated as Ray tasks (:mod:`.ray_sweep`); the
    gates and the report stay in this process either way."""
    from .run import DENSE, FairnessRun

    if ray is not None:
        from .ray_sweep import import_ray

        import_ray()  # before the model loads: a missing extra is said at once
    run = FairnessRun(settings)
    _check_methods(run)
    problem = run.open_cache()
    if problem is not None:
        print(f"fairquant: warning: {_flags(problem)}", file=sys.stderr)
    model = _load(run, "model")
    split = run.prepare(_load(run, "data"))
    if ray is None:
        evaluations: Any = contextlib.nullcontext(functools.partial(run.evaluate, model, split))
    else:
        from .ray_sweep import ray_evaluations

        evaluations = ray_evaluations(run, model, split, address=ray or None)
    checks = []
    with evaluations as evaluate:
        base = evaluate(DENSE)
        names = [*settings.methods, *(c.name for c in settings.candidates)]
        for method in _progress(names, "fairquant sweep"):
            check = run.judge(model, split, base, evaluate(method), nodeid=sweep_nodeid(method))
            if check.outcome == "skipped" and not check.comparisons:
                print(f"fairquant: skipped {check.text}", file=sys.stderr)
                run.methods[method] = {"method": method, "skipped": check.text}
            elif check.outcome == "error":
                print(f"fairquant: error: {_flags(check.text)}", file=sys.stderr)
            run.release(method)
            checks.append(check)
    return run.report(command), checks


def sweep_exit_code(checks: Sequence[Any]) -> int:
    """See :data:`SWEEP_EXIT_CODES`."""
    failed = any(c.outcome == "failed" for c in checks)
    errored = any(c.outcome == "error" for c in checks)
    if failed and errored:
        return EXIT_FAIL_AND_ERROR
    return EXIT_FAIL if failed else EXIT_ERROR if errored else EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from .report import check_report_path, write_reports

    settings = _sweep_settings(args)
    # `--methods none` too: a sweep that gates nothing must not pass.
    if not (settings.methods or settings.candidates):
        raise UsageError(MSG_NO_METHODS)
    if Path(args.report).suffix.lower() not in (".json", ".html", ".htm"):
        raise UsageError(MSG_BAD_REPORT_PATH.format(path=args.report))
    check_report_path(args.report, flag="--report")
    report, checks = run_sweep(settings, command=["fairquant", *args.argv], ray=args.ray)
    for note in write_reports([args.report], report):
        print(note, file=sys.stderr)
    from .report.terminal import summary_lines

    for line in summary_lines(report["comparisons"], methods=report["methods"]):
        print(line)
    print(f"fairquant: report written to {args.report}")
    return sweep_exit_code(checks)


# --------------------------------------------------------------------------- parser


def _methods_list(text: str) -> list[str]:
    return [m for m in text.replace(",", " ").split() if m]


class ModelCommand(Protocol):
    """A command on one method of the configured model: its text, its JSON and whether it
    found what it looked for (exit 0, else 1)."""

    def __call__(
        self,
        args: argparse.Namespace,
        model: Any,
        split: Any,
        *,
        device: Any,
        gate: Mapping[str, Any],
    ) -> tuple[str, dict[str, Any], bool]: ...


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, the data and every gate setting, as ``fairquant sweep`` and the plugin read
    them: flags > the pytest configuration file > defaults."""
    parser.add_argument(
        "--model", metavar="MODULE:CALLABLE", help="model factory (default: fairquant_model)"
    )
    parser.add_argument(
        "--data", metavar="MODULE:CALLABLE", help="split factory (default: fairquant_data)"
    )
    parser.add_argument(
        "-c",
        "--config-file",
        metavar="FILE",
        help="the pytest configuration file whose fairquant_* settings the command uses "
        "(default: the one pytest would find from the working directory); flags override it",
    )
    parser.add_argument(
        "--no-config",
        action="store_true",
        help="ignore any pytest configuration file: flags and defaults only",
    )
    from .settings import OPTIONS_BY_NAME

    for name in _SETTING_FLAGS:
        option = OPTIONS_BY_NAME[name]
        parser.add_argument(
            "--" + name.replace("_", "-"), dest=name, metavar=option.metavar, help=option.help
        )


def _add_model_command(
    subs: Any,
    name: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: ModelCommand,
    **texts: str,
) -> None:
    parser = subs.add_parser(name, **texts)
    add_arguments(parser)
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the result as JSON (a file there that fairquant did not write is refused)",
    )
    _add_config_arguments(parser)
    parser.set_defaults(func=functools.partial(cmd_model, run))


def cmd_model(run: ModelCommand, args: argparse.Namespace) -> int:
    """``fairquant attribute``/``mitigate``: one method on the configured model and split,
    prepared and gated with the settings a test of the plugin would use."""
    from .report import check_report_path, write_json
    from .run import FairnessRun
    from .settings import GATE_SETTINGS

    args.methods = [args.method]
    settings = _sweep_settings(args)
    if args.json is not None:
        try:
            check_report_path(args.json, flag="--json")
        except ConfigError as err:
            raise UsageError(str(err)) from err
    fairness = FairnessRun(settings)
    _check_methods(fairness)
    model = _load(fairness, "model")
    split = fairness.prepare(_load(fairness, "data"))
    gate = {name: getattr(settings, name) for name in GATE_SETTINGS}
    text, result, found = run(args, model, split, device=settings.device, gate=gate)
    print(text)
    if args.json is not None:
        write_json(Path(args.json), {"schema": f"{REPORT_SCHEMA}#{args.command}", **result})
        print(f"fairquant: {args.command} result written to {args.json}")
    return EXIT_OK if found else EXIT_FAIL


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fairquant",
        description="Fairness gates for compressed models, outside pytest: list methods, run a "
        "sweep, render and compare reports.",
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subs.required = True

    methods = subs.add_parser("methods", help="list compression methods and their availability")
    methods.add_argument("--available", action="store_true", help="only the available ones")
    methods.add_argument(
        "--check",
        action="store_true",
        help="import each backend and run its own availability check (slower; finds a backend "
        "that is installed but cannot load)",
    )
    methods.set_defaults(func=cmd_methods)

    sweep = subs.add_parser(
        "sweep",
        help="compress a model with each method and compare per group (no tests needed)",
        description="Compress the model with each method, evaluate dense and compressed on the "
        "split, gate each variant as a test calling assert_no_bias_amplification(model, "
        "quantized_model, demographic_split) would under the same settings (same split "
        "preparation, statistics, correction across attributes and inconclusive policy), and "
        "write the report.",
        epilog=SWEEP_EXIT_CODES,
    )
    sweep.add_argument(
        "--methods",
        nargs="+",
        type=_methods_list,
        metavar="ID",
        help="method ids, space or comma separated (see `fairquant methods`; default: "
        "fairquant_methods, else fairquant_quantization and fairquant_pruning of the "
        "configuration file)",
    )
    sweep.add_argument(
        "--candidate",
        action="append",
        metavar="NAME=MODULE:CALLABLE",
        help="your own already-compressed model, gated and reported under NAME (repeatable; "
        "default: fairquant_candidates of the configuration file); the factory returns a "
        "torch.nn.Module or an onnxruntime.InferenceSession",
    )
    sweep.add_argument("--report", required=True, metavar="PATH", help="out.html or out.json")
    sweep.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="evaluate the dense model and each variant as Ray tasks (one per model and method, "
        "a GPU each where the method needs CUDA or --device is not cpu and the cluster has "
        "one) and gate them here; ADDRESS is the cluster's (default: Ray's own choice: "
        "RAY_ADDRESS, a cluster started on this machine, else a new local one). Needs "
        "pip install 'pytest-fairquant[ray]'",
    )
    _add_config_arguments(sweep)
    sweep.set_defaults(func=cmd_sweep)

    report = subs.add_parser("report", help="render a JSON report as HTML")
    report.add_argument("results", help="a report JSON (--fairquant-report or fairquant sweep)")
    report.add_argument(
        "--html",
        required=True,
        metavar="PATH",
        help="where to write the page (a file there that fairquant did not write is refused)",
    )
    report.set_defaults(func=cmd_report)

    compare = subs.add_parser(
        "compare",
        help="what changed between two reports; exit 1 on a regression (any change for the "
        "worse, a significant regression of a gap among them)",
        description=COMPARE_DESCRIPTION,
    )
    compare.add_argument("old", help="the baseline report JSON (e.g. the last release)")
    compare.add_argument("new", help="the candidate report JSON")
    compare.add_argument(
        "--allow",
        action="append",
        metavar="FIELD=PATTERN[,FIELD=PATTERN...]",
        help=ALLOW_HELP,
    )
    compare.set_defaults(func=cmd_compare)

    from .attribution import add_attribute_arguments, run_attribute
    from .mitigation import add_mitigate_arguments, run_mitigate

    _add_model_command(
        subs,
        "attribute",
        add_attribute_arguments,
        run_attribute,
        help="which layers did the harm: rank them and find a skip list with which the gate passes",
        description="Compress one layer at a time and leave one out at a time, gate each "
        "variant with the statistics of assert_no_bias_amplification under the configured "
        "settings, rank the layers by their share of the gap's change and find the smallest "
        "skip list (greedy, then backward elimination) with which the gate passes. Exit 0 when "
        "one was found (or none is needed), 1 otherwise, 2 on a usage error.",
    )
    _add_model_command(
        subs,
        "mitigate",
        add_mitigate_arguments,
        run_mitigate,
        help="fit post-hoc mitigations on a calibration part and re-gate on the held-out part",
        description="Compress the model, fit threshold calibration, the uncertainty overrides "
        "and calibrated equalized odds on a stratified calibration part of the split, re-run "
        "the gate on the held-out part and print the verdicts and the accuracy before and "
        "after. Exit 0 when the gate passes before or after some mitigation, 1 otherwise, 2 on "
        "a usage error.",
    )
    return parser


#: Third-party loggers that warn at import about things a fairquant user cannot act on: the
#: bitsandbytes CPU backend's optional ``kernels`` package (it falls back to its own kernels),
#: and torch's notice about torchao's Enum registration. The command (an application, unlike
#: the library) keeps them to errors.
QUIET_LOGGERS = ("bitsandbytes.backends.cpu.ops", "torch.utils._pytree")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fairquant`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as done:  # --help
            return int(done.code or 0)
        if hasattr(args, "methods") and isinstance(args.methods, list):
            args.methods = [m for chunk in args.methods for m in chunk]
        args.argv = argv
        code = int(args.func(args))
        sys.stdout.flush()  # here, so that a reader gone away is the BrokenPipeError below
        return code
    except BrokenPipeError:  # ``fairquant methods | head``: the reader has what it wanted
        # As the Python docs advise: stdout to devnull, so the flush at exit does not raise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except UsageError as err:
        print(f"fairquant: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except FairquantError as err:
        print(f"fairquant: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
