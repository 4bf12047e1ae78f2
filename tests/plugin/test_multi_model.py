"""A repository with two models: each directory's conftest.py overrides fairquant_model and
fairquant_data, and each test gates its own model on its own split (issue 11 #1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CONFTEST = """
import pytest, torch
import fq_factories

@pytest.fixture(scope="session")
def fairquant_model():
    model = fq_factories.make_model()
    with torch.no_grad():
        model[2].weight.mul_({scale})  # a different model: other weights, same architecture
    return model

@pytest.fixture(scope="session")
def fairquant_data():
    split = fq_factories.make_split(n=3000, seed={seed}, race_share=(0.25, 0.25, 0.25, 0.25))
    split.name = "{name}"
    return split
"""

TEST = """
import json
from pytest_fairquant import assert_no_bias_amplification
from pytest_fairquant.fingerprint import model_fingerprint

def test_gate(fairquant_model, quantized_model, demographic_split):
    print("SEEN=" + json.dumps({{
        "dir": "{name}",
        "dense": model_fingerprint(fairquant_model),
        "base": quantized_model.fairquant_info.base_fingerprint,
        "split": demographic_split.name,
    }}))
    assert_no_bias_amplification(fairquant_model, quantized_model, demographic_split,
                                 attribute="gender", tolerance=0.2)
"""


def test_each_directory_gates_its_own_model_and_split(fq: pytest.Pytester) -> None:
    for name, scale, seed in (("alpha", 1.0, 1), ("beta", 3.0, 2)):
        fq.mkpydir(name)
        conftest = CONFTEST.format(scale=scale, name=name, seed=seed)
        Path(fq.path, name, "conftest.py").write_text(conftest)
        Path(fq.path, name, f"test_{name}.py").write_text(TEST.format(name=name))
    result = fq.runpytest("-s", "-p", "no:randomly", "--fairquant-report=out.json")
    seen = [json.loads(line.split("SEEN=", 1)[1]) for line in result.outlines if "SEEN=" in line]
    assert [s["dir"] for s in seen] == ["alpha", "beta"]
    alpha, beta = seen
    assert alpha["dense"] != beta["dense"]
    # Before: beta's test got alpha's variant (keyed by method only) and passed on it.
    assert [s["base"] for s in seen] == [s["dense"] for s in seen]
    assert [s["split"] for s in seen] == ["alpha", "beta"]
    report = json.loads(Path(fq.path, "out.json").read_text())
    rows = {r["nodeid"].split("/")[0]: r for r in report["comparisons"]}
    assert rows["alpha"]["model"] == f"Sequential@{alpha['dense'][:8]}"
    assert rows["beta"]["model"] == f"Sequential@{beta['dense'][:8]}"
    assert (rows["alpha"]["split"], rows["beta"]["split"]) == ("alpha", "beta")
    assert sorted(report["splits"]) == ["alpha", "beta"]
    assert rows["alpha"]["comparison"]["n"] != rows["beta"]["comparison"]["n"] or (
        rows["alpha"]["comparison"]["base_gap"] != rows["beta"]["comparison"]["base_gap"]
    )
