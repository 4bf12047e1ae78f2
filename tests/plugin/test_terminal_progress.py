"""The terminal during and after a run (issue 15): a progress line per variant compressed and
per model evaluated (elapsed, samples/s), through pytest's terminal reporter even while the
test's output is captured, and only on a terminal without ``-q``; after the run, each failing
comparison's worst group and change, each variant's compressed share (issue 13) and where each
report was written."""

from __future__ import annotations

import pytest

from pytest_fairquant.plugin import MSG_REPORT_WRITTEN
from pytest_fairquant.report.terminal import compression_lines, failure_lines, summary_lines

GATE = """
from pytest_fairquant import assert_no_bias_amplification

def test_gate(model, quantized_model, demographic_split):
    print("inside the test")
    assert_no_bias_amplification(model, quantized_model, demographic_split,
                                 attribute="gender", tolerance=0.5)
"""

#: What a terminal would say of itself: the inner run's output is a pipe, so tell its reporter.
AS_IF_A_TERMINAL = """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.pluginmanager.get_plugin("terminalreporter").isatty = lambda: True
"""

#: The gate evaluates the dense model, then the variant, which is built when its predictions
#: are not cached (its line, interrupted by the compression's, is written again at its end).
PROGRESS = [
    "fairquant: evaluating dense (Sequential@*) on toy, 600 samples ... done in *.* s, * samples/s",
    "fairquant: evaluating torch-dynamic-int8 (Sequential@*) on toy, 600 samples ...",
    "fairquant: compressing Sequential@* with torch-dynamic-int8 ... done in *.* s",
    "fairquant: evaluating torch-dynamic-int8 (Sequential@*) on toy, 600 samples ... "
    "done in *.* s, * samples/s",
]


def test_progress_lines_on_a_terminal_despite_capture(fq: pytest.Pytester) -> None:
    fq.makeconftest(AS_IF_A_TERMINAL)
    fq.makepyfile(test_gate=GATE)
    result = fq.runpytest("--fairquant-pruning=")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(PROGRESS, consecutive=False)
    # The test's own output stays captured: progress suspends capturing only for its lines.
    assert "inside the test" not in result.stdout.str()


@pytest.mark.parametrize("terminal", [True, False], ids=["quiet", "not-a-tty"])
def test_no_progress_under_quiet_or_off_a_terminal(fq: pytest.Pytester, terminal: bool) -> None:
    if terminal:
        fq.makeconftest(AS_IF_A_TERMINAL)
    fq.makepyfile(test_gate=GATE)
    result = fq.runpytest("--fairquant-pruning=", *(["-q"] if terminal else []))
    result.assert_outcomes(passed=1)
    assert "fairquant: evaluating" not in result.stdout.str()
    assert "fairquant: compressing" not in result.stdout.str()


def test_summary_names_the_share_and_where_each_report_was_written(fq: pytest.Pytester) -> None:
    fq.makepyfile(test_gate=GATE)
    result = fq.runpytest("--fairquant-pruning=", "--fairquant-report=out/r.html")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            # Biases stay float: 76.2% of the MLP's parameters are quantized.
            "fairquant: compressed share: torch-dynamic-int8 76.2%",
            "fairquant: 1 comparison: 1 pass; 1 test: 1 passed",
            MSG_REPORT_WRITTEN.format(path="out/r.json"),
        ]
    )
    html = fq.path / "out" / "r.html"
    if html.exists():  # the HTML renderer is installed
        result.stdout.fnmatch_lines([MSG_REPORT_WRITTEN.format(path="out/r.html")])


def _record(method: str, verdict: str, worst: str | None) -> dict[str, object]:
    groups = [{"group": "a", "delta": -0.01}, {"group": "minority", "delta": -0.2347}]
    return {
        "nodeid": f"t.py::test_q[{method}]",
        "gate": "assert_no_bias_amplification",
        "method": method,
        "comparison": {
            "attribute": "race",
            "gap": "fvo",
            "verdict": verdict,
            "worst_group": worst,
            "groups": groups,
        },
    }


def test_each_failing_comparison_names_its_worst_group_and_change() -> None:
    from pytest_fairquant.report.model import sorted_rows

    rows = sorted_rows(
        [
            _record("uniform-int2", "fail", "minority"),
            _record("uniform-int8", "pass", "a"),
            _record("bnb-nf4", "fail", None),
        ]
    )
    assert failure_lines(rows) == [
        "fairquant: fail: bnb-nf4 race fvo: worst group - (test_q[bnb-nf4])",
        "fairquant: fail: uniform-int2 race fvo: worst group minority -0.2347 "
        "(test_q[uniform-int2])",
    ]


def test_compressed_share_line_and_the_warning_under_half() -> None:
    warning = "bnb-int8: 2.1% of weights quantized (fc only): Conv2d untouched"
    methods = {
        "bnb-int8": {"compressed_share": 0.021, "share_warning": warning},
        "uniform-int4": {"compressed_share": 1.0, "share_warning": None},
        "bnb-nf4": {"method": "bnb-nf4", "skipped": "needs CUDA"},
    }
    assert compression_lines(methods) == [
        "fairquant: compressed share: bnb-int8 2.1%, uniform-int4 100.0%",
        f"fairquant: warning: {warning}",
    ]
    assert compression_lines({}) == []
    lines = summary_lines([_record("bnb-int8", "fail", "minority")], methods=methods)
    assert lines[-4:] == [
        "fairquant: fail: bnb-int8 race fvo: worst group minority -0.2347 (test_q[bnb-int8])",
        "fairquant: compressed share: bnb-int8 2.1%, uniform-int4 100.0%",
        f"fairquant: warning: {warning}",
        "fairquant: 1 comparison: 1 fail",
    ]


def test_progress_lines_from_xdist_workers(fq: pytest.Pytester) -> None:
    """A worker's output never reaches the terminal: its lines travel with the test's reports
    and the controller prints them, named by the worker, when the phase they ran in ends."""
    pytest.importorskip("xdist")
    fq.makeconftest(AS_IF_A_TERMINAL)
    fq.makepyfile(test_gate=GATE)
    result = fq.runpytest_subprocess("-n", "2", "--fairquant-pruning=")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"fairquant [[]gw?[]]: {line.removeprefix('fairquant: ')}"
            for line in PROGRESS
            if "done in" in line  # a worker sends finished steps only
        ],
        consecutive=False,
    )


def test_no_progress_lines_from_workers_off_a_terminal(fq: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    fq.makepyfile(test_gate=GATE)
    result = fq.runpytest_subprocess("-n", "2", "--fairquant-pruning=")
    result.assert_outcomes(passed=1)
    assert "fairquant [gw" not in result.stdout.str()
