"""Each variant is compressed once per run, and only when its predictions are not cached (issue 14).

A conftest counts every ``compress`` call (worker and method, one line each) and every test
writes which worker ran it, so the tests can say how many variants were built and where each
method's tests ran.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from build_counting import ALL, METHODS, _lines


def test_a_warm_rerun_compresses_nothing_and_reports_the_same(counted: pytest.Pytester) -> None:
    args = (*METHODS, "--fairquant-cache-dir=cache")
    counted.runpytest_subprocess(*args, "--fairquant-report=cold.json").assert_outcomes(passed=6)
    assert sorted(m for _, m in _lines(counted.path / "builds.txt")) == ALL
    (counted.path / "builds.txt").unlink()
    counted.runpytest_subprocess(*args, "--fairquant-report=warm.json").assert_outcomes(passed=6)
    assert _lines(counted.path / "builds.txt") == []
    cold, warm = (json.loads((counted.path / f"{n}.json").read_text()) for n in ("cold", "warm"))
    assert warm["comparisons"] == cold["comparisons"]
    # The report names every method's compression, from the cached predictions' metadata.
    assert warm["methods"] == cold["methods"] and sorted(warm["methods"]) == ALL


def test_two_workers_that_each_need_every_variant_build_each_once(
    counted: pytest.Pytester,
) -> None:
    # --dist each runs every test on both workers, in the same order, at the same time: each
    # worker needs every variant's predictions, and the cache entry's lock makes the second
    # worker wait for the first one's predictions instead of compressing again.
    result = counted.runpytest_subprocess(
        "-n", "2", "--dist", "each", *METHODS, "--fairquant-cache-dir=cache"
    )
    result.assert_outcomes(passed=12)
    ran = Counter(_lines(counted.path / "ran.txt"))
    assert ran == {(w, m): 2 for w in ("gw0", "gw1") for m in ALL}
    assert sorted(m for _, m in _lines(counted.path / "builds.txt")) == ALL


def test_fixture_values_are_modules_that_become_the_built_class(fq: pytest.Pytester) -> None:
    fq.makepyfile(
        """
        import torch
        from pytest_fairquant.compression.lazy import LazyVariant

        def test_module(quantized_model, pruned_model):
            for variant in (quantized_model, pruned_model):
                assert isinstance(variant, torch.nn.Module)
                assert isinstance(variant, LazyVariant)  # not built: nothing asked for it yet
                out = variant(torch.zeros(3, 2))  # first real use
                assert out.shape == (3, 2)
                assert type(variant) is torch.nn.Sequential and len(variant) == 3
                assert not isinstance(variant, LazyVariant)
            assert quantized_model.fairquant_info.method_id == "torch-dynamic-int8"
        """
    )
    fq.runpytest().assert_outcomes(passed=1)


MODEL_V1 = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return {body}

def make_model():
    return Net().eval()
"""


@pytest.mark.slow  # the default suite's 10-minute budget on 2 cores (README: how to run it)
def test_a_changed_forward_of_the_dense_model_rebuilds_its_variants(
    counted: pytest.Pytester,
) -> None:
    args = (
        "--fairquant-model=user_net:make_model",
        "--fairquant-quantization=uniform-int8",
        "--fairquant-pruning=",
        "--fairquant-cache-dir=cache",
        "--fairquant-report=r.json",
        "test_variants.py::test_gate",
    )
    counted.makepyfile(user_net=MODEL_V1.format(body="self.fc(x)"))
    counted.runpytest_subprocess(*args).assert_outcomes(passed=1)
    first = json.loads((counted.path / "r.json").read_text())["comparisons"]
    counted.runpytest_subprocess(*args).assert_outcomes(passed=1)  # warm: nothing built
    assert _lines(counted.path / "builds.txt") == [("main", "uniform-int8")]
    # Same weights, other code: another dense model, so another variant, built again.
    counted.makepyfile(user_net=MODEL_V1.format(body="self.fc(x) * 2 - x"))
    counted.runpytest_subprocess(*args).assert_outcomes(passed=1)
    assert _lines(counted.path / "builds.txt") == [("main", "uniform-int8")] * 2
    again = json.loads((counted.path / "r.json").read_text())["comparisons"]
    assert again[0]["model"] != first[0]["model"]
