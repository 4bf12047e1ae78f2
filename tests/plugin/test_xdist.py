"""Under pytest-xdist: the same verdicts and the same report as a serial run, summary printed once."""

from __future__ import annotations

import json

import pytest


def test_xdist_run_matches_the_serial_run(two: pytest.Pytester) -> None:
    two.makepyfile(test_more=(two.path / "test_two.py").read_text())
    serial = two.runpytest_subprocess("--fairquant-report=serial.json")
    serial.assert_outcomes(passed=2, failed=2)
    parallel = two.runpytest_subprocess("-n", "2", "--fairquant-report=parallel.json")
    parallel.assert_outcomes(passed=2, failed=2)
    a = json.loads((two.path / "serial.json").read_text())
    b = json.loads((two.path / "parallel.json").read_text())
    assert a["comparisons"] == b["comparisons"]
    assert a["summary"] == b["summary"] == {"fail": 2, "pass": 2}
    assert parallel.stdout.str().count("fairquant: 4 comparisons: 2 fail, 2 pass") == 1
