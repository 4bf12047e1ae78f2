"""Every test that used a fairquant fixture or called a gate is in the report with its pytest
outcome and its gates' verdicts (issue 11 #3), and under xdist each test's record travels with
its own report, so a crashed worker loses nothing that finished (issue 11 #7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gate_sources import TWO_GATES

OUTCOMES = (
    TWO_GATES.split("def test_same", 1)[0]
    + '''
import pytest


@pytest.fixture
def broken_split(demographic_split):
    raise RuntimeError("evaluation produced NaN outputs")


def test_errors_in_setup(model, broken_split):
    assert_no_bias_amplification(**data(0), tolerance=0.02)


def test_raises_before_its_gate(demographic_split):
    raise ValueError("outputs are NaN")


def test_passes():
    assert_no_bias_amplification(**data(0), tolerance=0.02)


@pytest.mark.xfail(strict=True, reason="thought int4 hurts b")
def test_strict_xpass():
    assert_no_bias_amplification(**data(0), tolerance=0.02)


@pytest.mark.xfail(reason="int4 hurts b")
def test_expected_failure():
    assert_no_bias_amplification(**data(300), tolerance=0.02)


def test_skips(demographic_split):
    pytest.skip("no GPU here")


def test_unrelated():
    pass
'''
)

#: nodeid -> (outcome, message, verdicts) as the report must hold them.
EXPECTED = {
    "test_outcomes.py::test_errors_in_setup": (
        "error",
        "RuntimeError: evaluation produced NaN outputs",
        [],
    ),
    "test_outcomes.py::test_expected_failure": ("xfailed", "int4 hurts b", ["fail"]),
    "test_outcomes.py::test_passes": ("passed", None, ["pass"]),
    "test_outcomes.py::test_raises_before_its_gate": ("failed", "ValueError: outputs are NaN", []),
    "test_outcomes.py::test_skips": ("skipped", "no GPU here", []),
    "test_outcomes.py::test_strict_xpass": (
        "xpassed-strict",
        "[XPASS(strict)] thought int4 hurts b",
        ["pass"],
    ),
}


def _tests(report: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    return {t["nodeid"]: (t["outcome"], t["message"], t["verdicts"]) for t in report["tests"]}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_every_outcome_reaches_the_json_html_and_terminal(
    fq: pytest.Pytester, workers: list[str]
) -> None:
    fq.makepyfile(test_outcomes=OUTCOMES)
    result = fq.runpytest_subprocess(*workers, "-rA", "--fairquant-report=r.html")
    result.assert_outcomes(passed=2, failed=2, errors=1, skipped=1, xfailed=1)
    report = json.loads((fq.path / "r.json").read_text())
    assert _tests(report) == EXPECTED
    assert report["outcomes"] == {
        "error": 1,
        "failed": 1,
        "passed": 1,
        "skipped": 1,
        "xfailed": 1,
        "xpassed-strict": 1,
    }
    assert report["summary"] == {"fail": 1, "pass": 2}
    summary = "fairquant: 3 comparisons: 1 fail, 2 pass; 6 tests: 1 error, 1 failed, 1 passed, "
    summary += "1 skipped, 1 xfailed, 1 xpassed-strict"
    assert result.stdout.str().count(summary) == 1
    result.stdout.fnmatch_lines(
        [
            "method*verdict*outcome*worst group*test",
            "-*n/a*error*test_errors_in_setup: RuntimeError: evaluation produced NaN outputs",
            "-*fvo*fail*xfailed*b*test_expected_failure",
        ]
    )
    page = (fq.path / "r.html").read_text() if (fq.path / "r.html").exists() else ""
    if page:
        assert "<th>outcome</th>" in page
        assert '<span class="verdict error">error</span>' in page
        assert '<span class="verdict fail">xpassed-strict</span>' in page
        assert "RuntimeError: evaluation produced NaN outputs" in page
        assert "6 tests:" in page


CRASHES = (
    TWO_GATES.split("def test_same", 1)[0]
    + '''
import os


def test_first():
    assert_no_bias_amplification(**data(0), tolerance=0.02)


def test_second():
    assert_no_bias_amplification(**data(300), tolerance=0.02)


def test_crashes(demographic_split):
    os._exit(3)
'''
)


@pytest.mark.slow  # the default suite's 10-minute budget on 2 cores (README: how to run it)
def test_a_crashed_worker_keeps_the_records_of_the_tests_that_finished(
    fq: pytest.Pytester,
) -> None:
    fq.makepyfile(test_crash=CRASHES, test_other=TWO_GATES)
    result = fq.runpytest_subprocess("-n", "2", "--dist=loadfile", "--fairquant-report=r.json")
    assert "crashed while running" in result.stdout.str()
    report = json.loads((fq.path / "r.json").read_text())
    assert sorted(c["nodeid"] for c in report["comparisons"]) == [
        "test_crash.py::test_first",
        "test_crash.py::test_second",
        "test_other.py::test_same",
        "test_other.py::test_worse",
    ]
    tests = _tests(report)
    assert tests["test_crash.py::test_first"] == ("passed", None, ["pass"])
    assert tests["test_crash.py::test_second"][0] == "failed"
    outcome, message, verdicts = tests["test_crash.py::test_crashes"]
    assert (outcome, verdicts) == ("error", [])
    assert message is not None and message.endswith(
        "crashed while running 'test_crash.py::test_crashes'"
    )
