"""fairquant_snapshot: create only on --snapshot-update, match within tolerance, fail on change."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_fairquant.snapshot import MSG_CORRUPT

# Predictions built by hand (no model needed): FQ_FLIP wrong answers are added to group "b".
TEST = """
import os
import numpy as np
from pytest_fairquant import DemographicSplit
from pytest_fairquant.gate import group_report
from pytest_fairquant.predictions import Predictions

def test_groups(fairquant_snapshot):
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, size=n)
    group = np.where(np.arange(n) % 2 == 0, "a", "b")
    pred = np.where(rng.random(n) < 0.9, y, 1 - y)
    flip = int(os.environ.get("FQ_FLIP", "0"))
    b_right = np.flatnonzero((group == "b") & (pred == y))[:flip]
    pred[b_right] = 1 - pred[b_right]
    split = DemographicSplit(y, {"group": group})
    preds = Predictions(np.zeros((n, 2), np.float32), pred, None, "binary", "t", "dense", "m", split.fingerprint)
    assert group_report(preds, split, metrics=["accuracy"], n_boot=200) == fairquant_snapshot
"""


def _snapshot_file(pytester: pytest.Pytester) -> Path:
    files = list(pytester.path.rglob("*.fairquant"))
    assert len(files) == 1, files
    return files[0]


def test_snapshot_lifecycle(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_snap=TEST)
    pytester.makeini("[pytest]\naddopts = -p no:hypothesispytest -p no:cacheprovider")
    # No baseline: a failure, and nothing written without --snapshot-update.
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert not list(pytester.path.rglob("*.fairquant"))
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    stored = _snapshot_file(pytester).read_text()
    assert '"schema": "pytest-fairquant/group-report/1"' in stored
    assert '"interval": [' in stored
    pytester.runpytest().assert_outcomes(passed=1)
    # Two flips in a group of 200 move accuracy by 0.01, inside the bootstrap half-width.
    monkeypatch.setenv("FQ_FLIP", "2")
    pytester.runpytest().assert_outcomes(passed=1)
    assert _snapshot_file(pytester).read_text() == stored
    # Forty flips (0.2) is a real change: a failure that says which value moved and by how much.
    monkeypatch.setenv("FQ_FLIP", "40")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*group: 'b' accuracy: * != stored * (|diff| 0.200000 > allowed *)*"]
    )
    assert _snapshot_file(pytester).read_text() == stored
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    assert _snapshot_file(pytester).read_text() != stored
    pytester.runpytest().assert_outcomes(passed=1)


def test_snapshot_tolerance_setting_widens_the_match(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_snap=TEST)
    pytester.makeini("[pytest]\naddopts = -p no:hypothesispytest -p no:cacheprovider")
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    monkeypatch.setenv("FQ_FLIP", "40")
    pytester.runpytest().assert_outcomes(failed=1)
    pytester.runpytest("--fairquant-snapshot-tolerance=0.25").assert_outcomes(passed=1)


def test_corrupt_snapshot_fails_naming_the_file_and_is_never_overwritten(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_snap=TEST)
    pytester.makeini("[pytest]\naddopts = -p no:hypothesispytest -p no:cacheprovider")
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=1)
    path = _snapshot_file(pytester)
    path.write_text("{not json")
    for args in ([], ["--snapshot-update"]):
        result = pytester.runpytest(*args)
        result.assert_outcomes(failed=1)
        assert "SnapshotError" in result.stdout.str()
        expected = MSG_CORRUPT.format(path=path, error="invalid JSON").split(" (")[0]
        assert expected in result.stdout.str()
        assert path.read_text() == "{not json"
