"""Gates on models under the plugin: predictions through the session, once per model; the report."""

from __future__ import annotations

import json
from typing import Any

import pytest

# Models are evaluated by pytest_fairquant.evaluate (issue 3); these tests run once it exists.
# They run pytest in a subprocess: inference imports torch submodules that cannot be loaded
# twice in one process, which in-process runs (restoring sys.modules) would do.
pytest.importorskip("pytest_fairquant.evaluate")

COUNTING_CONFTEST = """
import pytest
import pytest_fairquant.evaluate as evaluate

CALLS = []
_predict = evaluate.predict

def counting_predict(model, split, **kwargs):
    CALLS.append(type(model).__name__ if getattr(model, "fairquant_info", None) is None
                 else model.fairquant_info.method_id)
    return _predict(model, split, **kwargs)

@pytest.fixture(autouse=True, scope="session")
def count_predictions():
    evaluate.predict = counting_predict
    yield
    evaluate.predict = _predict
    print("CALLS=" + __import__("json").dumps(CALLS))
"""

MODEL_GATES = """
from pytest_fairquant import assert_no_bias_amplification, assert_fvo_below

def test_same_attribute(model, quantized_model, demographic_split):
    assert_no_bias_amplification(model, quantized_model, demographic_split, attribute="gender")

def test_other_attribute(model, quantized_model, demographic_split):
    assert_no_bias_amplification(model, quantized_model, demographic_split, attribute="race")
"""


def test_each_model_is_predicted_once_per_session(fq: pytest.Pytester, printed: Any) -> None:
    fq.makeconftest(COUNTING_CONFTEST)
    fq.makepyfile(test_models=MODEL_GATES)
    result = fq.runpytest_subprocess(
        "-s",
        "--fairquant-data=fq_factories:make_big_split",
        "--fairquant-report=r.json",
        "--fairquant-cache-dir=predictions",
    )
    result.assert_outcomes(passed=2)
    assert sorted(printed(result, "CALLS")) == ["Sequential", "torch-dynamic-int8"]
    # The prediction cache (shared by xdist workers and later runs) lives under the rootdir.
    assert any(p.is_file() for p in (fq.path / "predictions").rglob("*"))
    report = json.loads((fq.path / "r.json").read_text())
    assert [r["method"] for r in report["comparisons"]] == ["torch-dynamic-int8"] * 2
    assert [r["comparison"]["attribute"] for r in report["comparisons"]] == ["race", "gender"]
    assert report["methods"]["torch-dynamic-int8"]["method_id"] == "torch-dynamic-int8"
    # Every race group holds about a quarter of 6000 samples: nothing is dropped.
    assert report["splits"]["toy"]["n"] == 6000
    assert report["splits"]["toy"]["dropped"] == []


TASK_GATES = """
import json

from pytest_fairquant import ClassificationTask, assert_fvo_below, group_report
import pytest_fairquant.evaluate as evaluate

STRICT = ClassificationTask("binary", threshold=0.95)
TASKS = []
_predict = evaluate.predict

def recording_predict(model, split, **kwargs):
    task = kwargs.get("task")
    TASKS.append(None if task is None else task.fingerprint())
    return _predict(model, split, **kwargs)

evaluate.predict = recording_predict

def test_default_task(fairquant_model, demographic_split):
    assert_fvo_below(fairquant_model, demographic_split, threshold=1.0, attribute="gender")

def test_default_task_again(fairquant_model, demographic_split):
    assert_fvo_below(fairquant_model, demographic_split, threshold=1.0, attribute="race")

def test_task_reaches_the_model(fairquant_model, demographic_split):
    assert_fvo_below(fairquant_model, demographic_split, threshold=1.0, attribute="gender", task=STRICT)
    default = group_report(fairquant_model, demographic_split, attribute="gender", metrics=["selection_rate"])
    strict = group_report(
        fairquant_model, demographic_split, attribute="gender", metrics=["selection_rate"], task=STRICT
    )
    assert strict.overall["selection_rate"] < default.overall["selection_rate"]
    print("TASKS=" + json.dumps(TASKS))
"""


def test_gates_evaluate_models_with_the_given_task_once_each(
    fq: pytest.Pytester, printed: Any
) -> None:
    fq.makepyfile(test_tasks=TASK_GATES)
    result = fq.runpytest_subprocess("-s")
    result.assert_outcomes(passed=3)
    tasks = printed(result, "TASKS")
    # One evaluation per (model, task): the default task once, the strict threshold once.
    assert len(tasks) == 2 and tasks[0] is None and "0.95" in tasks[1]


COUNT_COMPRESSIONS = """
import os

import pytest_fairquant.compression as compress_package

_compress = compress_package.compress
CALLS = os.path.join(os.path.dirname(__file__), "compressions.txt")

def counting_compress(model, method, **params):
    with open(CALLS, "a") as f:
        f.write(method + "\\n")
    return _compress(model, method, **params)

compress_package.compress = counting_compress


def pytest_collection_finish(session):
    # What the plugin marked, as the worker sees it (one line per item).
    with open(os.path.join(os.path.dirname(__file__), "groups.txt"), "a") as f:
        for item in session.items:
            names = [m.args[0] for m in item.iter_markers("xdist_group")]
            f.write(item.name + " " + ",".join(names) + "\\n")
"""

VARIANT_TESTS = """
from pytest_fairquant import assert_fvo_below, assert_no_bias_amplification

def test_uses_quantized(model, quantized_model, demographic_split):
    assert_no_bias_amplification(model, quantized_model, demographic_split, attribute="gender",
                                 tolerance=0.5)

def test_uses_quantized_again(quantized_model, demographic_split):
    assert_fvo_below(quantized_model, demographic_split, attribute="gender", threshold=0.5)

def test_uses_pruned(pruned_model, demographic_split):
    assert_fvo_below(pruned_model, demographic_split, attribute="gender", threshold=0.5)

def test_uses_pruned_again(pruned_model, demographic_split):
    assert_fvo_below(pruned_model, demographic_split, attribute="race", threshold=0.5)
"""


def test_loadgroup_compresses_each_variant_once_across_workers(fq: pytest.Pytester) -> None:
    fq.makeconftest(COUNT_COMPRESSIONS)
    fq.makepyfile(test_variants=VARIANT_TESTS)
    result = fq.runpytest_subprocess(
        "-v",
        "-n",
        "2",
        "--dist",
        "loadgroup",
        "--fairquant-quantization=torch-dynamic-int8,uniform-int8",
        "--fairquant-report=r.json",
    )
    result.assert_outcomes(passed=6)
    # Every variant-parametrised test carries its method's xdist group.
    groups = set((fq.path / "groups.txt").read_text().splitlines())
    assert "test_uses_quantized_again[uniform-int8] fairquant-uniform-int8" in groups
    assert "test_uses_pruned[global-magnitude-0.5] fairquant-global-magnitude-0.5" in groups
    report = json.loads((fq.path / "r.json").read_text())
    # xdist's "@group" suffix (where it still appends one) stays out of the report, so it
    # matches a serial run's ids.
    assert {r["nodeid"] for r in report["comparisons"]} >= {
        "test_variants.py::test_uses_quantized[torch-dynamic-int8]",
        "test_variants.py::test_uses_quantized[uniform-int8]",
    }
    # Every method's tests went to one worker (the plugin's scheduler keeps a group together
    # where xdist ignores groups, pytest-xdist#1386): each variant was built once in the whole
    # run, with no shared cache directory to help.
    calls = (fq.path / "compressions.txt").read_text().split()
    assert sorted(calls) == ["global-magnitude-0.5", "torch-dynamic-int8", "uniform-int8"]
