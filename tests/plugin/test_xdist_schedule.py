"""xdist scheduling by variant (issue 14): under plain ``-n 2`` each method's tests run on one
worker, both workers are busy, and each variant is built once without a shared cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

COUNT_BUILDS = """
import os

import pytest
import pytest_fairquant.compression as compression

_compress = compression.compress
HERE = os.path.dirname(__file__)
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

def counting_compress(model, method, **params):
    with open(os.path.join(HERE, "builds.txt"), "a") as f:
        f.write(f"{WORKER} {method}\\n")
    return _compress(model, method, **params)

compression.compress = counting_compress

@pytest.fixture
def ran(request):
    callspec = request.node.callspec
    method = callspec.params.get("quantized_model") or callspec.params.get("pruned_model")
    with open(os.path.join(HERE, "ran.txt"), "a") as f:
        f.write(f"{WORKER} {method}\\n")
"""

# Two tests per method, every one of them needing the variant's predictions only.
GATES = """
from pytest_fairquant import assert_fvo_below, assert_no_bias_amplification

def test_gate(model, quantized_model, demographic_split, ran):
    assert_no_bias_amplification(model, quantized_model, demographic_split, attribute="gender",
                                 tolerance=0.5)

def test_fvo(quantized_model, demographic_split, ran):
    assert_fvo_below(quantized_model, demographic_split, attribute="race", threshold=0.5)

def test_pruned_gate(model, pruned_model, demographic_split, ran):
    assert_no_bias_amplification(model, pruned_model, demographic_split, attribute="gender",
                                 tolerance=0.5)

def test_pruned_fvo(pruned_model, demographic_split, ran):
    assert_fvo_below(pruned_model, demographic_split, attribute="race", threshold=0.5)
"""

METHODS = ("--fairquant-quantization=torch-dynamic-int8,uniform-int8",)
#: Every method of the run above (the ini's pruning method included).
ALL = ["global-magnitude-0.5", "torch-dynamic-int8", "uniform-int8"]


@pytest.fixture
def counted(fq: pytest.Pytester) -> pytest.Pytester:
    fq.makeconftest(COUNT_BUILDS)
    fq.makepyfile(test_variants=GATES)
    return fq


def _lines(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [(w, m) for w, m in (line.split() for line in path.read_text().splitlines())]


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
