"""The ``fairquant`` command: list methods, run a sweep without tests, render and compare reports.

``fairquant methods`` lists the compression methods with their availability;
``fairquant sweep --model pkg:fn --data pkg:fn --methods ...`` drives the plugin's run object
(:class:`~pytest_fairquant.run.FairnessRun`), so it gives the verdicts a test would, and writes
the same report; ``fairquant report results.json --html out.html``
renders a report; ``fairquant compare old.json new.json`` prints what changed between two runs
and exits 1 on a significant regression (see :func:`diff_reports`).

Exit codes: 0 success, 1 a failing gate (``sweep``) or a significant regression (``compare``),
2 a usage error (bad path, unreadable JSON, unknown method), always as one line on stderr;
``sweep`` adds 3 (a method errored) and 4 (both), see :data:`SWEEP_EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .errors import ConfigError, FairquantError

MSG_NO_FILE = "{path}: no such file"
MSG_BAD_JSON = "{path}: not readable as JSON: {error}"
MSG_NOT_REPORT = (
    "{path}: not a fairquant report (no 'schema' starting with pytest-fairquant/report/)"
)
MSG_NO_METHODS = "--methods: give at least one method id (see `fairquant methods`)"
MSG_BAD_REPORT_PATH = "--report={path}: must end in .json or .html"
MSG_REGRESSION = "fairquant compare: {n} significant regression(s) between {old} and {new}"

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line or its files: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# --------------------------------------------------------------------------- reading reports


def load_report(path: str | Path) -> dict[str, Any]:
    """A report JSON file, checked to be one; :class:`UsageError` with one clear line if not."""
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
    return data


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class Change:
    """One comparison matched across two reports (``old`` or ``new`` is None when unmatched)."""

    key: tuple[str, str, str, str]
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None

    @property
    def verdicts(self) -> tuple[str, str]:
        return (_verdict(self.old), _verdict(self.new))

    @property
    def regression(self) -> str | None:
        """Why this change is a significant regression, or None.

        Three rules: a comparison that passed and now fails; a comparison the old run did not
        have that fails (a new method or test that amplifies bias); or the gap's change from the
        dense model grew and the two runs' intervals of that change do not overlap (the new
        lower bound is above the old upper bound), which is evidence beyond resampling noise.
        """
        if self.old is None and _verdict(self.new) == "fail":
            return "new, and it fails"
        if self.old is None or self.new is None:
            return None
        if self.verdicts == ("pass", "fail"):
            return "was pass, now fail"
        old_iv, new_iv = _interval(self.old), _interval(self.new)
        if old_iv is not None and new_iv is not None and new_iv[0] > old_iv[1]:
            return (
                f"gap change grew: interval [{new_iv[0]:+.4f}, {new_iv[1]:+.4f}] is above "
                f"[{old_iv[0]:+.4f}, {old_iv[1]:+.4f}]"
            )
        return None


def _verdict(c: Mapping[str, Any] | None) -> str:
    return "-" if c is None else str(c.get("verdict", "-"))


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _interval(c: Mapping[str, Any]) -> tuple[float, float] | None:
    iv = c.get("interval")
    if isinstance(iv, list) and len(iv) == 2:
        lo, hi = _number(iv[0]), _number(iv[1])
        if not (math.isnan(lo) or math.isnan(hi)):
            return lo, hi
    return None


def _keyed(report: Mapping[str, Any]) -> dict[tuple[str, str, str, str], Mapping[str, Any]]:
    out: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
    for record in report["comparisons"]:
        c = record.get("comparison", {})
        key = (
            str(record.get("nodeid", "-")),
            str(record.get("method") or "dense"),
            str(c.get("attribute") or "-"),
            str(c.get("gap") or "-"),
        )
        out[key] = c
    return out


def diff_reports(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every comparison of either report, matched by (test, method, attribute, gap)."""
    before, after = _keyed(old), _keyed(new)
    keys = list(dict.fromkeys([*before, *after]))
    return [Change(k, before.get(k), after.get(k)) for k in keys]


def _fmt(value: Any, signed: bool = False) -> str:
    x = _number(value)
    if math.isnan(x):
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _gap_text(c: Mapping[str, Any] | None) -> str:
    return "-" if c is None else _fmt(c.get("compressed_gap"))


def format_changes(changes: Sequence[Change]) -> list[str]:
    head = ("test", "method", "attribute", "gap", "old gap", "new gap", "Δ", "verdict", "note")
    rows = [head]
    for ch in changes:
        old_gap = _number(ch.old.get("compressed_gap")) if ch.old else math.nan
        new_gap = _number(ch.new.get("compressed_gap")) if ch.new else math.nan
        old_v, new_v = ch.verdicts
        note = ch.regression or ("new" if ch.old is None else "removed" if ch.new is None else "")
        rows.append(
            (
                ch.key[0].rsplit("::", 1)[-1],
                ch.key[1],
                ch.key[2],
                ch.key[3],
                _gap_text(ch.old),
                _gap_text(ch.new),
                _fmt(new_gap - old_gap, signed=True),
                old_v if old_v == new_v else f"{old_v} -> {new_v}",
                f"REGRESSION: {note}" if ch.regression else note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def cmd_compare(args: argparse.Namespace) -> int:
    old, new = load_report(args.old), load_report(args.new)
    changes = diff_reports(old, new)
    for line in format_changes(changes):
        print(line)
    regressions = [c for c in changes if c.regression]
    if regressions:
        print(
            MSG_REGRESSION.format(n=len(regressions), old=args.old, new=args.new), file=sys.stderr
        )
        return EXIT_FAIL
    print(f"fairquant compare: no significant regression ({len(changes)} comparisons)")
    return EXIT_OK


# --------------------------------------------------------------------------- report


def _write_html(report: Mapping[str, Any], path: Path) -> None:
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

    statuses = compression_methods()
    rows = [("method", "available", "reason")]
    for s in statuses:
        name = str(getattr(s, "id", None) or getattr(s, "name", s))
        available = bool(getattr(s, "available", False))
        reason = str(getattr(s, "reason", "") or "")
        if args.available and not available:
            continue
        rows.append((name, "yes" if available else "no", reason))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for r in rows:
        print(f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}".rstrip())
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
    "default, as in pytest); 2 a usage error (bad flag, path, factory or method id); 3 a "
    "method could not be compressed or evaluated (its error row is in the report; the other "
    "methods completed); 4 both 1 and 3."
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
    return text.replace("--fairquant-", "--")


def _sweep_settings(args: argparse.Namespace) -> Any:
    from .settings import resolve

    cli = {name: getattr(args, name) for name in _SETTING_FLAGS}
    cli.update(model=args.model, data=args.data, methods=",".join(args.methods))
    try:
        return resolve(cli, {})
    except ConfigError as err:
        raise UsageError(_flags(str(err))) from err


def _check_methods(run: Any) -> None:
    """Unknown ids and an unusable --device are usage errors, before any model is loaded."""
    try:
        run.check_methods(("methods",))
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


def run_sweep(settings: Any, *, command: Sequence[str]) -> tuple[dict[str, Any], list[Any]]:
    """Gate every method of ``settings`` as the plugin's tests would; the session report dict
    and each method's :class:`~pytest_fairquant.run.Check`."""
    from .run import FairnessRun

    run = FairnessRun(settings)
    _check_methods(run)
    problem = run.open_cache()
    if problem is not None:
        print(f"fairquant: warning: {_flags(problem)}", file=sys.stderr)
    model = _load(run, "model")
    split = run.prepare(_load(run, "data"))
    checks = []
    for method in _progress(settings.methods, "fairquant sweep"):
        check = run.check(model, split, method, nodeid=sweep_nodeid(method))
        if check.outcome == "skipped" and not check.comparisons:
            print(f"fairquant: skipped {check.text}", file=sys.stderr)
            run.methods[method] = {"method": method, "skipped": check.text}
        elif check.outcome == "error":
            print(f"fairquant: error: {check.text}", file=sys.stderr)
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

    if not args.methods:
        raise UsageError(MSG_NO_METHODS)
    if Path(args.report).suffix.lower() not in (".json", ".html", ".htm"):
        raise UsageError(MSG_BAD_REPORT_PATH.format(path=args.report))
    check_report_path(args.report, flag="--report")
    settings = _sweep_settings(args)
    report, checks = run_sweep(settings, command=["fairquant", *args.argv])
    for note in write_reports([args.report], report):
        print(note, file=sys.stderr)
    from .report.terminal import summary_lines

    for line in summary_lines(report["comparisons"]):
        print(line)
    print(f"fairquant: report written to {args.report}")
    return sweep_exit_code(checks)


# --------------------------------------------------------------------------- parser


def _methods_list(text: str) -> list[str]:
    return [m for m in text.replace(",", " ").split() if m]


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
    sweep.add_argument("--model", required=True, metavar="MODULE:CALLABLE", help="model factory")
    sweep.add_argument("--data", required=True, metavar="MODULE:CALLABLE", help="split factory")
    sweep.add_argument(
        "--methods",
        required=True,
        nargs="+",
        type=_methods_list,
        metavar="ID",
        help="method ids, space or comma separated (see `fairquant methods`)",
    )
    sweep.add_argument("--report", required=True, metavar="PATH", help="out.html or out.json")
    for name in _SETTING_FLAGS:
        from .settings import OPTIONS_BY_NAME

        option = OPTIONS_BY_NAME[name]
        sweep.add_argument(
            "--" + name.replace("_", "-"), dest=name, metavar=option.metavar, help=option.help
        )
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
        help="what changed between two reports; exit 1 on a significant regression",
        description="Match comparisons by test, method, attribute and gap and print the gap and "
        "verdict before and after. A significant regression is a comparison that was pass and "
        "is now fail, or whose gap change grew with non-overlapping intervals (the new lower "
        "bound above the old upper bound). Exit 1 when there is one.",
    )
    compare.add_argument("old", help="the baseline report JSON (e.g. the last release)")
    compare.add_argument("new", help="the candidate report JSON")
    compare.set_defaults(func=cmd_compare)
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
        return int(args.func(args))
    except UsageError as err:
        print(f"fairquant: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except FairquantError as err:
        print(f"fairquant: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
