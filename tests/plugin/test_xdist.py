"""Under pytest-xdist: the same verdicts and the same report as a serial run, summary printed once."""

from __future__ import annotations

import json

import pytest


def test_xdist_run_matches_the_serial_run(two: pytest.Pytester) -> None:
    two.makepyfile(test_more=(two.path / "test_two.py").read_text(), test_undefined=UNDEFINED)
    serial = two.runpytest_subprocess("--fairquant-report=serial.json", "--junitxml=serial.xml")
    serial.assert_outcomes(passed=2, failed=3)
    parallel = two.runpytest_subprocess(
        "-n", "2", "--fairquant-report=parallel.json", "--junitxml=parallel.xml"
    )
    parallel.assert_outcomes(passed=2, failed=3)
    a = json.loads((two.path / "serial.json").read_text())
    b = json.loads((two.path / "parallel.json").read_text())
    assert a["comparisons"] == b["comparisons"]
    assert a["summary"] == b["summary"] == {"error": 1, "fail": 2, "pass": 2}
    assert parallel.stdout.str().count("fairquant: 5 comparisons: 1 error, 2 fail, 2 pass") == 1
    # The headline numbers (an undefined gap among them) reach JUnit from the workers too.
    assert (
        'name="fairquant.group.bias_amplification.verdict" value="error"'
        in (two.path / "parallel.xml").read_text()
    )


# Bias amplification without a gap between the groups' training rates is undefined: an error
# verdict whose NaN-with-reason values must still travel from xdist workers.
UNDEFINED = """
import numpy as np
from pytest_fairquant import assert_no_bias_amplification

def test_undefined():
    rng = np.random.default_rng(1)
    groups = np.where(rng.random(2000) < 0.5, "f", "m")
    y = rng.integers(0, 2, size=2000)
    assert_no_bias_amplification(y_true=y, base_pred=y, compressed_pred=y, sensitive_features=groups,
                                 gap="bias_amplification", train_y_true=y,
                                 train_sensitive_features=groups)
"""


SNAPSHOTS = """
import numpy as np
import pytest
from pytest_fairquant import DemographicSplit
from pytest_fairquant.gate import group_report
from pytest_fairquant.predictions import Predictions

@pytest.mark.parametrize("seed", range(4))
def test_groups(fairquant_snapshot, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=200)
    pred = np.where(rng.random(200) < 0.9, y, 1 - y)
    split = DemographicSplit(y, {"group": np.where(np.arange(200) % 2, "a", "b")})
    preds = Predictions(
        np.zeros((200, 2), np.float32), pred, None, "binary", "t", "dense", "m", split.fingerprint
    )
    assert group_report(preds, split, n_boot=100) == fairquant_snapshot
"""


def test_snapshot_update_under_xdist_writes_every_snapshot(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_snaps=SNAPSHOTS)
    pytester.runpytest_subprocess("-n", "2", "--snapshot-update").assert_outcomes(passed=4)
    assert len(list(pytester.path.rglob("*.fairquant"))) == 4
