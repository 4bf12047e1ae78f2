"""Shared pieces of the plugin's pytester tests: a tiny model and split the inner runs import.

The inner test runs import ``fq_factories`` (written into each pytester directory): a 2-layer
MLP whose weights are set by hand (class 1 when x0 + x1 > 0), so every run is deterministic and
fast, and a DemographicSplit of 2-D points with two attributes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

# In-process pytester runs restore sys.modules afterwards: torch cannot be imported twice in one
# process, and a re-imported pytest_fairquant module would make a second DemographicSplit class
# (the package caches its lazy exports). Loading them here keeps one copy across inner runs.
import torch
from build_counting import COUNT_BUILDS, GATES
from gate_sources import TWO_GATES

import pytest_fairquant.data.split
import pytest_fairquant.metrics  # noqa: F401

for _name in ("stats", "evaluate", "compression"):
    with contextlib.suppress(ModuleNotFoundError):
        importlib.import_module(f"pytest_fairquant.{_name}")
# Nor can onnxruntime's extension (the process aborts) or ml_dtypes' numpy dtypes (which onnx
# imports; registered twice they raise): imported first inside an inner run (the ONNX candidate
# test), they would be imported again by the next test that uses onnx.
for _name in ("ml_dtypes", "onnx", "onnxruntime"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)

# evaluate.predict calls torch.use_deterministic_algorithms, which imports torch._inductor on
# first use; imported inside an inner run, it would be imported again by the next one.
torch.use_deterministic_algorithms(
    torch.are_deterministic_algorithms_enabled(),
    warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
)

FACTORIES = """
import numpy as np
import torch

from pytest_fairquant import DemographicSplit


def make_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()
        model[0].weight[0] = torch.tensor([1.0, 1.0])
        model[0].weight[1] = torch.tensor([-1.0, -1.0])
        # Hidden units 2-7 feed nothing (their output weights are zero), so they leave every
        # prediction as it is; their small weights give pruning something to remove (a variant
        # equal to its dense model is refused as "compression changed nothing").
        model[0].weight[2:] = 0.01
        model[2].weight.zero_()
        model[2].bias.zero_()
        model[2].weight[1, 0] = 1.0
        model[2].weight[1, 1] = -1.0
        model[2].weight[0, 0] = -1.0
        model[2].weight[0, 1] = 1.0
    return model.eval()


def make_split(n=600, seed=0, race_share=(0.4, 0.3, 0.27, 0.03)):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] + rng.normal(scale=0.3, size=n) > 0).astype(np.int64)
    gender = np.where(rng.random(n) < 0.5, "f", "m")
    race = rng.choice(["a", "b", "c", "tiny"], size=n, p=list(race_share))
    return DemographicSplit(y, {"gender": gender, "race": race}, inputs=torch.from_numpy(x), name="toy")


def make_big_split():
    return make_split(n=6000, seed=1, race_share=(0.25, 0.25, 0.25, 0.25))


not_callable = 3


def wrong_type():
    return "not a model"
"""

INI = """
[pytest]
addopts = -p no:hypothesispytest -p no:cacheprovider
fairquant_model = fq_factories:make_model
fairquant_data = fq_factories:make_split
fairquant_quantization = torch-dynamic-int8
fairquant_pruning = global-magnitude-0.5
fairquant_cache_dir =
fairquant_n_boot = 200
"""


@pytest.fixture
def fq(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with the factories importable and an ini that names them."""
    pytester.makepyfile(fq_factories=FACTORIES)
    pytester.makeini(INI)
    pytester.syspathinsert()
    return pytester


def _printed(result: pytest.RunResult, tag: str) -> Any:
    for line in result.outlines:
        match = re.search(rf"{tag}=(.*)$", line)
        if match:
            return json.loads(match.group(1))
    raise AssertionError(f"{tag}= not in output:\n" + "\n".join(result.outlines))


@pytest.fixture
def printed() -> Callable[[pytest.RunResult, str], Any]:
    """``printed(result, TAG)``: the JSON an inner test printed after ``TAG=`` (run with ``-s``)."""
    return _printed


@pytest.fixture
def two(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with two array-form gates: one passes, one fails."""
    pytester.makepyfile(test_two=TWO_GATES)
    pytester.makeini("[pytest]\naddopts = -p no:hypothesispytest -p no:cacheprovider")
    return pytester


@pytest.fixture
def counted(fq: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory whose runs log every variant build and every test's worker
    (build_counting.py)."""
    fq.makeconftest(COUNT_BUILDS)
    fq.makepyfile(test_variants=GATES)
    return fq
