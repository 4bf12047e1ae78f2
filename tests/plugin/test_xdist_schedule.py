"""xdist scheduling by variant (issue 14): under plain ``-n 2`` each method's tests run on one
worker, both workers are busy, and each variant is built once without a shared cache."""

from __future__ import annotations

import json

import pytest
from build_counting import ALL, METHODS, _lines


def test_workers_take_different_variants(counted: pytest.Pytester) -> None:
    # Plain -n 2 schedules by variant: each method's tests on one worker, both workers busy,
    # so each variant is built once even without a shared cache directory.
    result = counted.runpytest_subprocess("-n", "2", *METHODS, "--fairquant-report=r.json")
    result.assert_outcomes(passed=6)
    workers = {m: {w for w, m2 in _lines(counted.path / "ran.txt") if m2 == m} for m in ALL}
    assert all(len(w) == 1 for w in workers.values()), workers
    assert set().union(*workers.values()) == {"gw0", "gw1"}
    builds = _lines(counted.path / "builds.txt")
    assert sorted(m for _, m in builds) == ALL
    assert all(w in workers[m] for w, m in builds)
    # The report is a serial run's: every test's comparisons, under its own id.
    report = json.loads((counted.path / "r.json").read_text())
    assert len({r["nodeid"] for r in report["comparisons"]}) == 6
