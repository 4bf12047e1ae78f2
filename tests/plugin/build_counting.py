"""What the plugin tests that count variant builds share: a conftest that logs every
``compress`` call and every test's method per worker, two gates per method, and the methods."""

from __future__ import annotations

from pathlib import Path

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


def _lines(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [(w, m) for w, m in (line.split() for line in path.read_text().splitlines())]
