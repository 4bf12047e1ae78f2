"""The ``fairquant`` command: each subcommand, its help, and its one-line errors."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from toy_factories import write_factories

from pytest_fairquant import cli
from pytest_fairquant.report import build_report
from pytest_fairquant.report.jsonreport import MSG_NOT_A_REPORT, MSG_NOT_WRITABLE


def _record(method: str, verdict: str, delta: float, interval: list[float]) -> dict[str, Any]:
    return {
        "nodeid": f"tests/test_fairness.py::test_keeps_fvo[{method}]",
        "gate": "assert_no_bias_amplification",
        "method": method,
        "comparison": {
            "attribute": "race",
            "gap": "fvo",
            "metric": "accuracy",
            "verdict": verdict,
            "base_gap": 0.10,
            "compressed_gap": 0.10 + delta,
            "delta": delta,
            "interval": interval,
            "tolerance": 0.02,
            "groups": [],
        },
    }


@pytest.fixture
def old_report() -> dict[str, Any]:
    records = [
        _record("uniform-int8", "pass", 0.0, [-0.01, 0.01]),
        _record("uniform-int4", "pass", 0.01, [-0.005, 0.015]),
    ]
    report = build_report(records, settings={"seed": 0}, methods={}, splits={}, command=["pytest"])
    return json.loads(json.dumps(report))


def _write(tmp_path: Path, name: str, report: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


#: What the sweep needs from the library (the modules other issues build).
SWEEP_NEEDS = {
    "compression": "compress",
    "evaluate": "predict",
    "stats": "compare",
}


def _needs(*modules: str) -> None:
    """Skip unless each library module is importable and has the name the CLI uses."""
    for module in modules:
        loaded = pytest.importorskip(f"pytest_fairquant.{module}")
        if not hasattr(loaded, SWEEP_NEEDS[module]):
            pytest.skip(f"pytest_fairquant.{module} has no {SWEEP_NEEDS[module]} yet")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("sub", [[], ["methods"], ["sweep"], ["report"], ["compare"]])
def test_every_subcommand_has_help(sub: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([*sub, "--help"], capsys)
    assert code == 0
    assert out.startswith(f"usage: fairquant {' '.join(sub)}".rstrip())


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_fairquant", "compare", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "significant regression" in done.stdout


# --------------------------------------------------------------------------- report


def test_report_renders_html(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path, "results.json", old_report)
    out_html = tmp_path / "out" / "report.html"
    code, out, _ = _run(["report", str(src), "--html", str(out_html)], capsys)
    assert code == 0
    assert f"written to {out_html}" in out
    page = out_html.read_text(encoding="utf-8")
    assert '<table class="verdicts">' in page
    assert "<td>uniform-int4</td>" in page


def test_report_missing_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"
    code, _, err = _run(["report", str(missing), "--html", str(tmp_path / "x.html")], capsys)
    assert code == 2
    assert err == f"fairquant: error: {cli.MSG_NO_FILE.format(path=missing)}\n"


def test_report_unreadable_json_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = _run(["report", str(bad), "--html", str(tmp_path / "x.html")], capsys)
    assert code == 2
    assert err.startswith(f"fairquant: error: {bad}: not readable as JSON: ")
    assert err.count("\n") == 1


def test_report_of_other_json_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = _write(tmp_path, "other.json", {"schema": "something-else", "comparisons": []})
    code, _, err = _run(["report", str(other), "--html", str(tmp_path / "x.html")], capsys)
    assert code == 2
    assert err == f"fairquant: error: {cli.MSG_NOT_REPORT.format(path=other)}\n"


def test_report_refuses_to_overwrite_a_page_fairquant_did_not_write(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path, "results.json", old_report)
    page = tmp_path / "index.html"
    page.write_text("<html><body>my page</body></html>", encoding="utf-8")
    code, out, err = _run(["report", str(src), "--html", str(page)], capsys)
    assert code == cli.EXIT_USAGE
    message = MSG_NOT_A_REPORT.format(flag="--html", path=page, target=page)
    assert err == f"fairquant: error: {message}\n"
    assert out == ""
    assert page.read_text(encoding="utf-8") == "<html><body>my page</body></html>"
    # A page fairquant rendered is its own to overwrite; a JSON of the user's beside it is
    # not touched (the command writes only the page).
    (tmp_path / "out.json").write_text('{"mine": true}', encoding="utf-8")
    out_html = tmp_path / "out.html"
    for _ in range(2):
        code, _, err = _run(["report", str(src), "--html", str(out_html)], capsys)
        assert (code, err) == (cli.EXIT_OK, "")
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == '{"mine": true}'


def test_report_to_an_unwritable_path_is_one_line_exit_2(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path, "results.json", old_report)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    target = tmp_path / "file" / "report.html"
    code, _, err = _run(["report", str(src), "--html", str(target)], capsys)
    assert code == cli.EXIT_USAGE
    reason = f"{tmp_path / 'file'} is not a directory"
    message = MSG_NOT_WRITABLE.format(flag="--html", path=target, reason=reason)
    assert err == f"fairquant: error: {message}\n"


def test_missing_arguments_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["report"], capsys)
    assert code == 2
    assert err == (
        "fairquant: error: the following arguments are required: results, --html "
        "(see fairquant report --help)\n"
    )


def test_unknown_subcommand_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["frobnicate"], capsys)
    assert code == 2
    assert err.startswith("fairquant: error: argument COMMAND: invalid choice: 'frobnicate'")
    assert err.count("\n") == 1


# --------------------------------------------------------------------------- compare


def test_compare_same_report_is_clean(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write(tmp_path, "a.json", old_report)
    code, out, err = _run(["compare", str(a), str(a)], capsys)
    assert code == 0
    assert "no significant regression (2 comparisons)" in out
    assert err == ""


def test_compare_pass_to_fail_is_a_regression(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    new = copy.deepcopy(old_report)
    new["comparisons"][0]["comparison"].update(verdict="fail", compressed_gap=0.2)
    a, b = _write(tmp_path, "a.json", old_report), _write(tmp_path, "b.json", new)
    code, out, err = _run(["compare", str(a), str(b)], capsys)
    assert code == 1
    line = next(x for x in out.splitlines() if "uniform-int4" in x)
    assert "pass -> fail" in line
    assert "REGRESSION: was pass, now fail" in line
    assert "0.1100   0.2000   +0.0900" in line
    assert err == cli.MSG_REGRESSION.format(n=1, old=a, new=b) + "\n"


def test_compare_non_overlapping_growth_is_a_regression(old_report: dict[str, Any]) -> None:
    new = copy.deepcopy(old_report)
    # uniform-int8 still passes, but its gap change moved clearly up: [0.02, 0.04] vs [-0.01, 0.01]
    new["comparisons"][1]["comparison"].update(delta=0.03, interval=[0.02, 0.04])
    changes = {c.key[1]: c for c in cli.diff_reports(old_report, new)}
    assert changes["uniform-int8"].regression is not None
    assert "above [-0.0100, +0.0100]" in changes["uniform-int8"].regression
    # Overlapping intervals are noise, not a regression.
    new["comparisons"][1]["comparison"].update(delta=0.005, interval=[0.0, 0.02])
    changes = {c.key[1]: c for c in cli.diff_reports(old_report, new)}
    assert changes["uniform-int8"].regression is None


def test_compare_lists_new_and_removed(old_report: dict[str, Any]) -> None:
    new = copy.deepcopy(old_report)
    removed = new["comparisons"].pop(0)
    new["comparisons"].append(_record("uniform-int2", "pass", 0.0, [-0.01, 0.01]))
    new["comparisons"].append(_record("nm-2:4", "fail", 0.3, [0.25, 0.35]))
    changes = cli.diff_reports(old_report, new)
    lines = cli.format_changes(changes)
    # A comparison the candidate lost is a regression: its gate no longer runs.
    assert any(
        removed["method"] in x and x.endswith(f"REGRESSION: {cli.MSG_REMOVED}") for x in lines
    )
    assert any("uniform-int2" in x and x.endswith("new") for x in lines)
    # A comparison only the candidate has is a regression unless it passes.
    added = {c.key[1]: c.regression for c in changes if c.old is None}
    assert added == {"uniform-int2": None, "nm-2:4": "new, and it fails"}


def _compare(
    tmp_path: Path,
    old: dict[str, Any],
    new: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    *extra: str,
) -> tuple[int, str, str]:
    a, b = _write(tmp_path, "a.json", old), _write(tmp_path, "b.json", new)
    return _run(["compare", str(a), str(b), *extra], capsys)


@pytest.mark.parametrize(
    ("verdict", "why"),
    [
        ("error", "was pass, now error"),
        ("inconclusive", "was pass, now inconclusive"),
        ("insufficient_data", "was pass, now insufficient_data"),
    ],
)
def test_compare_any_change_for_the_worse_is_a_regression(
    tmp_path: Path,
    old_report: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    verdict: str,
    why: str,
) -> None:
    new = copy.deepcopy(old_report)
    new["comparisons"][1]["comparison"]["verdict"] = verdict  # uniform-int8
    code, out, err = _compare(tmp_path, old_report, new, capsys)
    assert code == cli.EXIT_FAIL
    line = next(x for x in out.splitlines() if "uniform-int8" in x)
    assert line.endswith(f"REGRESSION: {why}")
    regression = cli.MSG_REGRESSION.format(n=1, old=tmp_path / "a.json", new=tmp_path / "b.json")
    assert err == regression + "\n"


def test_compare_a_missing_row_is_a_regression(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    new = copy.deepcopy(old_report)
    del new["comparisons"][0]
    code, out, _ = _compare(tmp_path, old_report, new, capsys)
    assert code == cli.EXIT_FAIL
    line = next(x for x in out.splitlines() if "uniform-int4" in x)
    assert line.endswith(f"REGRESSION: {cli.MSG_REMOVED}")


def test_compare_keeps_rows_that_differ_only_in_metric(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    tpr = copy.deepcopy(old_report["comparisons"][0])
    tpr["comparison"]["metric"] = "tpr"
    old = copy.deepcopy(old_report)
    old["comparisons"].append(tpr)
    new = copy.deepcopy(old)
    new["comparisons"][-1]["comparison"]["verdict"] = "fail"  # the tpr row only
    changes = cli.diff_reports(old, new)
    assert len(changes) == 3
    assert [c.key[4] for c in changes if c.regression] == ["tpr"]
    code, out, _ = _compare(tmp_path, old, new, capsys)
    assert code == cli.EXIT_FAIL
    assert "no significant regression" not in out


def test_compare_allow_names_the_changes_that_may_get_worse(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    new = copy.deepcopy(old_report)
    new["comparisons"][0]["comparison"]["verdict"] = "inconclusive"  # uniform-int4
    del new["comparisons"][1]  # uniform-int8
    code, out, _ = _compare(
        tmp_path, old_report, new, capsys, "--allow", "method=uniform-int4,change=verdict"
    )
    assert code == cli.EXIT_FAIL  # the removed uniform-int8 row is not allowed
    note = "allowed by --allow method=uniform-int4,change=verdict: was pass, now inconclusive"
    assert note in out
    code, out, _ = _compare(
        tmp_path,
        old_report,
        new,
        capsys,
        "--allow",
        "method=uniform-int4",
        "--allow",
        "test=*test_keeps_fvo*,method=uniform-int8,change=removed",
    )
    assert code == cli.EXIT_OK
    assert out.splitlines()[-1] == (
        "fairquant compare: no significant regression (2 comparisons; 2 allowed by --allow)"
    )


@pytest.mark.parametrize(
    ("allow", "problem"),
    [
        ("uniform-int4", "expected FIELD=PATTERN"),
        (
            "colour=red",
            "unknown field 'colour' (one of test, method, attribute, gap, metric, change)",
        ),
        ("method=", "method= has an empty pattern"),
    ],
)
def test_compare_bad_allow_is_a_usage_error(
    tmp_path: Path,
    old_report: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    allow: str,
    problem: str,
) -> None:
    code, _, err = _compare(tmp_path, old_report, old_report, capsys, "--allow", allow)
    assert code == cli.EXIT_USAGE
    assert err == f"fairquant: error: {cli.MSG_BAD_ALLOW.format(text=allow, problem=problem)}\n"


def test_compare_help_documents_the_allow_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(["compare", "--help"], capsys)
    text = " ".join(out.split())
    assert "--allow FIELD=PATTERN[,FIELD=PATTERN...]" in text
    assert "test, method, attribute, gap, metric, change" in text


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (3, "comparisons[2]: expected a dict with 'nodeid' and a 'comparison' dict, got int 3"),
        (
            {"nodeid": "t::x", "comparison": {"gap": "fvo"}},
            "comparisons[2].comparison: 'verdict' must be a non-empty string, got None",
        ),
        (
            {"nodeid": 7, "comparison": {"verdict": "pass"}},
            "comparisons[2]: 'nodeid' must be a non-empty string, got 7",
        ),
    ],
    ids=["not-a-dict", "no-verdict", "bad-nodeid"],
)
def test_compare_malformed_entry_exits_2_naming_file_and_entry(
    tmp_path: Path,
    old_report: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    entry: Any,
    problem: str,
) -> None:
    new = copy.deepcopy(old_report)
    new["comparisons"].append(entry)
    code, out, err = _compare(tmp_path, old_report, new, capsys)
    assert code == cli.EXIT_USAGE
    assert err == f"fairquant: error: {tmp_path / 'b.json'}: not a fairquant report: {problem}\n"
    assert out == ""


def test_compare_keeps_a_comparison_a_test_made_twice(old_report: dict[str, Any]) -> None:
    twice = copy.deepcopy(old_report)
    twice["comparisons"].append(copy.deepcopy(twice["comparisons"][0]))
    worse = copy.deepcopy(twice)
    worse["comparisons"][-1]["comparison"]["verdict"] = "fail"
    changes = cli.diff_reports(twice, worse)
    assert len(changes) == 3
    assert [c.key[0].rsplit("::", 1)[-1] for c in changes if c.regression] == [
        "test_keeps_fvo[uniform-int4]#2"
    ]


def _with_tests(report: dict[str, Any], **outcomes: str) -> dict[str, Any]:
    out = copy.deepcopy(report)
    out["tests"] = [
        {
            "nodeid": f"tests/test_fairness.py::{name}",
            "outcome": outcome,
            "method": None,
            "message": None,
            "verdicts": [],
        }
        for name, outcome in outcomes.items()
    ]
    return out


def test_compare_a_test_that_now_errors_before_its_gate_is_a_regression(
    tmp_path: Path, old_report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    old = _with_tests(old_report, test_load="passed", test_other="passed")
    new = _with_tests(old_report, test_load="error", test_other="passed")
    code, out, _ = _compare(tmp_path, old, new, capsys)
    assert code == cli.EXIT_FAIL
    line = next(x for x in out.splitlines() if "test_load" in x)
    assert line.split()[:4] == ["test_load", "-", "passed", "->"]
    assert line.endswith("REGRESSION: was passed, now error")
    assert not any("test_other" in x for x in out.splitlines())  # unchanged tests are not listed


# --------------------------------------------------------------------------- methods + sweep


@pytest.mark.parametrize("check", [False, True], ids=["installed", "check"])
def test_methods_lists_availability(check: bool, capsys: pytest.CaptureFixture[str]) -> None:
    _needs("compression")
    from pytest_fairquant.compression import compression_methods

    statuses = compression_methods(check=check)
    code, out, _ = _run(["methods", *(["--check"] if check else [])], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "method",
        "available",
        "source",
        "what",
        "it",
        "does",
        "/",
        "why",
        "not",
    ]
    source_at = lines[0].index("source")
    for status in statuses:
        line = next(x for x in lines[1:] if x.split()[0] == status.id)
        assert line.split()[1] == ("yes" if status.available else "no")
        assert line[source_at:].split("  ")[0] == (status.source or "-")
        assert status.description in line
        if status.reason:
            assert status.reason in line
    assert "docs/metrics.md" in next(x for x in lines if x.startswith("(source:"))
    assert (lines[-1].startswith("(availability from the installed packages")) is not check


def test_every_built_in_method_names_its_source() -> None:
    """The source column cites a paper of docs/metrics.md's table by its authors, or a tool."""
    _needs("compression")
    from pytest_fairquant.compression import compression_methods
    from pytest_fairquant.compression.methods import all_builtins

    papers = Path(__file__).resolve().parents[1].joinpath("docs", "metrics.md").read_text()
    builtins = {pattern for pattern, _, _ in all_builtins()}
    statuses = [s for s in compression_methods(check=False) if s.id in builtins]
    assert len(statuses) == len(builtins)
    for status in statuses:
        assert status.source, status.id
        author = status.source.split(",")[0].split(" et al.")[0]
        tools = ("torchao", "ONNX Runtime", "optimum-quanto", "HQQ", "GPTQ")
        assert author in papers or status.source.startswith(tools), status


def test_a_closed_pipe_ends_the_listing_quietly() -> None:
    """``fairquant methods | head -3``: no BrokenPipeError traceback, exit 0 (the reader here
    is gone before the first line)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest_fairquant", "methods"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_quick_listing_runs_a_third_partys_own_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the method knows what it needs: no package list makes it available unchecked."""
    from pytest_fairquant.compression import registry

    class NeverHere:
        name = "never-here-either"
        params: ClassVar[dict[str, Any]] = {}
        family = "quantization"
        description = "a backend this machine lacks"

        def available(self) -> tuple[bool, str]:
            return False, "needs a quantum accelerator"

        def apply(self, model: Any) -> Any:
            raise AssertionError("never applied")

    monkeypatch.setattr(registry, "_REGISTRY", registry._Registry())
    registry.register_method("never-here-either", NeverHere)
    code, out, _ = _run(["methods"], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("never-here-either"))
    assert line.split()[1] == "no" and line.endswith("(needs a quantum accelerator)")


def test_the_quick_listing_agrees_with_the_checks_here_and_imports_no_backend() -> None:
    """``fairquant methods`` answers at once (no torch, no bitsandbytes) and, on a machine
    whose installed backends load, says what the full checks say."""
    from pytest_fairquant.compression import compression_methods

    quick = {s.id: s.available for s in compression_methods(check=False)}
    assert quick == {s.id: s.available for s in compression_methods(check=True)}
    code = (
        "import sys; from pytest_fairquant import cli; cli.main(['methods']); "
        "print(sorted(m for m in ('torch', 'bitsandbytes', 'torchao') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_factories(tmp_path, "cli_factories", monkeypatch)


def _sweep_args(out: Path, *extra: str) -> list[str]:
    return [
        "sweep",
        "--model",
        "cli_factories:make_model",
        "--data",
        "cli_factories:make_split",
        "--report",
        str(out),
        "--n-boot",
        "100",
        "--cache-dir",
        "",
        *extra,
    ]


def test_sweep_unknown_method_exit_2(factories: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _needs("compression")
    args = _sweep_args(factories / "r.json", "--methods", "uniform-int4", "no-such-method")
    code, _, err = _run(args, capsys)
    assert code == 2
    assert err.startswith(
        "fairquant: error: --methods (command line): unknown compression method 'no-such-method'; "
    )
    assert err.count("\n") == 1


def test_sweep_bad_setting_names_the_flag(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _sweep_args(factories / "r.json", "--methods", "uniform-int4", "--alpha", "1.5")
    code, _, err = _run(args, capsys)
    assert code == 2
    assert err.startswith("fairquant: error: --alpha=1.5 (command line): ")


def test_sweep_bad_report_suffix(factories: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(_sweep_args(factories / "r.txt", "--methods", "uniform-int4"), capsys)
    assert code == 2
    assert err == f"fairquant: error: {cli.MSG_BAD_REPORT_PATH.format(path=factories / 'r.txt')}\n"


def test_sweep_refuses_to_overwrite_a_page_fairquant_did_not_write(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = factories / "index.html"
    page.write_text("<html>mine</html>", encoding="utf-8")
    code, _, err = _run(_sweep_args(page, "--methods", "uniform-int4"), capsys)
    assert code == cli.EXIT_USAGE
    assert err == (
        f"fairquant: error: {MSG_NOT_A_REPORT.format(flag='--report', path=page, target=page)}\n"
    )
    assert page.read_text(encoding="utf-8") == "<html>mine</html>"


def test_sweep_writes_the_plugins_report(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs(*SWEEP_NEEDS)
    out = factories / "sweep.html"
    code, stdout, _ = _run(
        _sweep_args(out, "--methods", "uniform-int8,uniform-int2", "--min-group-size", "30"),
        capsys,
    )
    assert code in (0, 1)
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert report["schema"].startswith("pytest-fairquant/report/")
    assert [r["method"] for r in report["comparisons"]] == ["uniform-int2", "uniform-int8"]
    assert report["command"][:2] == ["fairquant", "sweep"]
    assert "<svg" in out.read_text(encoding="utf-8")
    assert f"report written to {out}" in stdout
    # --inconclusive defaults to fail, as in pytest: only a sweep of passes exits 0.
    failing = any(r["comparison"]["verdict"] != "pass" for r in report["comparisons"])
    assert code == (1 if failing else 0)


def test_sweep_model_factory_of_wrong_type(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs(*SWEEP_NEEDS)
    args = _sweep_args(factories / "r.json", "--methods", "uniform-int8")
    args[2] = "cli_factories:not_a_model"
    code, _, err = _run(args, capsys)
    assert code == 2
    assert "the factory returned int, expected a torch.nn.Module" in err


# --------------------------------------------------------------------------- sweep outcomes


@dataclass(frozen=True)
class _ThirdParty:
    """A third-party method that breaks in one of the ways a backend can."""

    how: str = "nan"
    family = "custom"

    @property
    def name(self) -> str:
        return f"broken-{self.how}"

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def available(self) -> tuple[bool, str | None]:
        return True, None

    def apply(self, model: Any) -> Any:
        import torch

        if self.how == "kernel":
            raise RuntimeError("the int3 kernel is not compiled for this CPU")
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float("nan"))
        return model


def _raising_factory() -> Any:
    raise ImportError("libfancyquant.so: cannot open shared object file")


@pytest.fixture
def broken_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    """broken-nan (NaN outputs), broken-kernel (apply raises), broken-factory (the factory
    raises), registered for this test only."""
    from pytest_fairquant.compression import registry

    registry._entries()
    monkeypatch.setattr(registry._REGISTRY, "entries", dict(registry._REGISTRY.entries))
    registry.register_method("broken-nan", lambda: _ThirdParty("nan"))
    registry.register_method("broken-kernel", lambda: _ThirdParty("kernel"))
    registry.register_method("broken-factory", _raising_factory)


def _rows(out: Path) -> dict[str, dict[str, Any]]:
    report = json.loads(out.read_text(encoding="utf-8"))
    return {r["method"]: r["comparison"] for r in report["comparisons"]}


def test_sweep_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["sweep", "--help"], capsys)
    assert code == 0
    assert "exit codes: 0 every gate passed" in " ".join(out.split())
    assert "4 both 1 and 3." in " ".join(out.split())


def test_sweep_inconclusive_fails_unless_inconclusive_lets_it_through(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs(*SWEEP_NEEDS)
    out = factories / "r.json"
    code, _, _ = _run(_sweep_args(out, "--methods", "uniform-int8"), capsys)
    # 200 samples a group cannot rule out a change of 0.02: the gate is undecided.
    assert _rows(out)["uniform-int8"]["verdict"] == "inconclusive"
    assert code == cli.EXIT_FAIL  # it exited 0: an undecided gate passed the sweep
    code, _, _ = _run(
        _sweep_args(out, "--methods", "uniform-int8", "--inconclusive", "xfail"), capsys
    )
    assert code == cli.EXIT_OK


def test_sweep_bad_variants_are_error_rows_and_the_other_methods_complete(
    factories: Path, broken_methods: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs(*SWEEP_NEEDS)
    out = factories / "r.json"
    methods = "broken-nan,uniform-int8,broken-kernel,broken-factory"
    args = _sweep_args(out, "--methods", methods, "--inconclusive", "skip")
    code, _, err = _run(args, capsys)
    assert code == cli.EXIT_ERROR
    rows = _rows(out)
    assert rows["uniform-int8"]["verdict"] == "inconclusive"
    assert {m: rows[m]["verdict"] for m in ("broken-nan", "broken-kernel", "broken-factory")} == {
        "broken-nan": "error",
        "broken-kernel": "error",
        "broken-factory": "error",
    }
    assert rows["broken-nan"]["reasons"][0].startswith(
        "broken-nan: evaluation failed: NonFiniteOutputs: "
    )
    assert rows["broken-kernel"]["reasons"] == [
        "broken-kernel: compression failed: RuntimeError: the int3 kernel is not compiled for "
        "this CPU"
    ]
    factory_reason = rows["broken-factory"]["reasons"][0]
    assert factory_reason.startswith("broken-factory: loading the method ")
    assert "ImportError: libfancyquant.so: cannot open shared object file" in factory_reason
    assert "fairquant: error: broken-kernel: compression failed: RuntimeError: " in err
    # A failing gate as well as an error: both show in the exit code.
    code, _, _ = _run(_sweep_args(out, "--methods", methods), capsys)
    assert code == cli.EXIT_FAIL_AND_ERROR


def test_sweep_model_factory_that_raises_is_one_usage_error(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs(*SWEEP_NEEDS)
    args = _sweep_args(factories / "r.json", "--methods", "uniform-int8")
    args[2] = "cli_factories:raises"
    code, _, err = _run(args, capsys)
    assert code == cli.EXIT_USAGE
    assert err == (
        "fairquant: error: --model=cli_factories:raises (command line): the factory raised "
        "OSError: weights.bin not found\n"
    )


@pytest.mark.parametrize("methods", ["none", ""], ids=["none", "empty"])
def test_sweep_of_no_method_is_a_usage_error(
    factories: Path, methods: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = factories / "r.json"
    code, _, err = _run(_sweep_args(out, "--methods", methods), capsys)
    # It exited 0 with an empty report: a sweep that gated nothing passed.
    assert code == cli.EXIT_USAGE
    assert err == f"fairquant: error: {cli.MSG_NO_METHODS}\n"
    assert not out.exists()


def test_sweep_device_and_cache_dir_are_checked_once_naming_the_flag(
    factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_fairquant.evaluate import MSG_BAD_DEVICE

    out = factories / "r.json"
    code, _, err = _run(_sweep_args(out, "--methods", "uniform-int8", "--device", "tpu"), capsys)
    assert code == cli.EXIT_USAGE
    assert err == (
        f"fairquant: error: --device=tpu (command line): {MSG_BAD_DEVICE.format(device='tpu')}\n"
    )
    _needs(*SWEEP_NEEDS)
    (factories / "blocker").write_text("a file where the cache directory should be")
    args = _sweep_args(out, "--methods", "uniform-int8", "--inconclusive", "xfail")
    args[args.index("--cache-dir") + 1] = "blocker/cache"
    code, _, err = _run(args, capsys)
    # The sweep completes on an in-memory cache, warned once.
    assert code == cli.EXIT_OK
    assert err.count("fairquant: warning: ") == 1
    assert err.startswith(
        "fairquant: warning: --cache-dir=blocker/cache (command line): the prediction cache "
        "directory "
    )
    assert "predictions are kept in memory for this run only" in err
