"""Your own release artifact (issue 13): ``fairquant_candidates`` and the ``candidate_model``
fixture, which gates each already-compressed model like a variant, under its name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_fairquant.candidates import CANDIDATE_MODELS, MSG_CANDIDATE_ENTRY
from pytest_fairquant.plugin import (
    MSG_CANDIDATE_IS_DENSE,
    MSG_CANDIDATE_IS_METHOD,
    MSG_FACTORY_IMPORT,
    MSG_FACTORY_RAISED,
    MSG_FACTORY_TYPE,
    MSG_NO_CANDIDATES,
)

CANDIDATES = """
import torch

from fq_factories import make_model

PRUNED = "pruned.pt"


def save_pruned():
    # The release pipeline's artifact: the dense model with its idle hidden units pruned.
    model = make_model()
    with torch.no_grad():
        model[0].weight[2:] = 0.0
    torch.save(model, PRUNED)


def load_pruned():
    return torch.load(PRUNED, weights_only=False).eval()


def load_dense():
    return make_model()


def raises():
    raise FileNotFoundError("release/model-int8.onnx")


def not_a_model():
    return {"weights": [1, 2, 3]}
"""

GATE = """
from pytest_fairquant import assert_no_bias_amplification

def test_release(model, candidate_model, demographic_split):
    assert_no_bias_amplification(
        model, candidate_model, demographic_split, attribute="gender", tolerance=0.05
    )
"""


@pytest.fixture
def release(fq: pytest.Pytester) -> pytest.Pytester:
    """The toy factories, a saved pruned model file, and a gate over candidate_model."""
    fq.makepyfile(fq_candidates=CANDIDATES, test_release=GATE)
    _python(fq, "import fq_candidates; fq_candidates.save_pruned()")
    return fq


def _python(pytester: pytest.Pytester, code: str) -> None:
    """Run ``code`` in the pytester directory (in a process of its own: the inner runs must
    import the factories' modules themselves)."""
    path = os.pathsep.join([str(pytester.path), *sys.path])
    env = {**os.environ, "PYTHONPATH": path}
    subprocess.run([sys.executable, "-c", code], cwd=pytester.path, env=env, check=True)


def _ini(pytester: pytest.Pytester, *lines: str) -> None:
    from conftest import INI

    entries = "".join(f"    {line}\n" for line in lines)
    pytester.makeini(INI + "fairquant_candidates =\n" + entries)


def test_a_saved_pruned_model_is_gated_and_reported_under_its_name(
    release: pytest.Pytester,
) -> None:
    _ini(release, "pruned-release = fq_candidates:load_pruned")
    result = release.runpytest("-v", "--fairquant-report=out.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_release.py::test_release[[]pruned-release[]] PASSED*"])
    report = json.loads((release.path / "out.json").read_text(encoding="utf-8"))
    assert {r["method"] for r in report["comparisons"]} == {"pruned-release"}
    info = report["methods"]["pruned-release"]
    assert info["family"] == "candidate"
    assert info["factory"] == "fq_candidates:load_pruned"
    assert len(info["model_fingerprint"]) == 32
    assert report["settings"]["candidates"] == ["pruned-release=fq_candidates:load_pruned"]


def test_the_flag_and_the_marker_name_candidates_too(release: pytest.Pytester) -> None:
    release.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.fairquant(candidates={"marked": "fq_candidates:load_pruned"})
        def test_marked(candidate_model):
            assert candidate_model.fairquant_info.method_id == "marked"
        """
    )
    result = release.runpytest("-v", "--fairquant-candidates=flagged=fq_candidates:load_pruned")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(["*test_release[[]flagged[]]*", "*test_marked[[]marked[]]*"])


def test_no_candidate_is_one_skipped_test_saying_how_to_set_one(release: pytest.Pytester) -> None:
    result = release.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    message = MSG_NO_CANDIDATES.format(shown="fairquant_candidates = none", source="default")
    assert message in result.stdout.str().replace("\n", "")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "broken = fq_candidates:raises",
            MSG_FACTORY_RAISED.format(
                shown="fairquant_candidates = broken=fq_candidates:raises",
                source="tox.ini [pytest]",
                error="FileNotFoundError: release/model-int8.onnx",
            ),
        ),
        (
            "odd = fq_candidates:not_a_model",
            MSG_FACTORY_TYPE.format(
                shown="fairquant_candidates = odd=fq_candidates:not_a_model",
                source="tox.ini [pytest]",
                got="dict",
                expected=CANDIDATE_MODELS,
            ),
        ),
        (
            "same = fq_candidates:load_dense",
            MSG_CANDIDATE_IS_DENSE.format(
                shown="fairquant_candidates = same=fq_candidates:load_dense",
                source="tox.ini [pytest]",
            ),
        ),
    ],
    ids=["raises", "not-a-model", "the-dense-model"],
)
def test_a_bad_candidate_is_its_tests_error_naming_it(
    release: pytest.Pytester, entry: str, message: str
) -> None:
    _ini(release, entry)
    result = release.runpytest()
    result.assert_outcomes(errors=1)
    assert message in result.stdout.str().replace("\n", "")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "justaname",
            "fairquant_candidates = justaname (tox.ini [pytest]): "
            + MSG_CANDIDATE_ENTRY.format(entry="justaname"),
        ),
        (
            "gone = no_such_module:load",
            MSG_FACTORY_IMPORT.format(
                shown="fairquant_candidates = gone=no_such_module:load",
                source="tox.ini [pytest]",
                module="no_such_module",
                error="ModuleNotFoundError: No module named 'no_such_module'",
            ),
        ),
        (
            "fp16 = fq_candidates:load_pruned",
            MSG_CANDIDATE_IS_METHOD.format(
                shown="fairquant_candidates = fp16=fq_candidates:load_pruned",
                source="tox.ini [pytest]",
                name="fp16",
            ),
        ),
    ],
    ids=["no-equals", "cannot-import", "a-method-id"],
)
def test_a_bad_entry_is_one_usage_error_before_the_tests(
    release: pytest.Pytester, entry: str, message: str
) -> None:
    _ini(release, entry)
    result = release.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"fairquant: {message}" in result.stderr.str().replace("\n", "")


ONNX_MODEL = """
import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from fq_factories import make_model

PATH = "release.onnx"


def export():
    # The deployed artifact, written by "another tool": the toy MLP as two Gemm nodes.
    model = make_model()
    weights = [numpy_helper.from_array(t.detach().numpy(), name) for name, t in [
        ("w0", model[0].weight), ("b0", model[0].bias), ("w2", model[2].weight),
        ("b2", model[2].bias)]]
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], transB=1),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)],
        "release",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        weights,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), PATH)


def load_session():
    return onnxruntime.InferenceSession(PATH, providers=["CPUExecutionProvider"])
"""


def test_an_onnxruntime_session_is_gated_through_predict(release: pytest.Pytester) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    release.makepyfile(fq_onnx=ONNX_MODEL)
    _python(release, "import fq_onnx; fq_onnx.export()")
    _ini(release, "onnx-release = fq_onnx:load_session")
    result = release.runpytest("--fairquant-report=out.json")
    result.assert_outcomes(passed=1)
    info: dict[str, Any] = json.loads(Path(release.path / "out.json").read_text())["methods"][
        "onnx-release"
    ]
    assert info["model_type"] == "pytest_fairquant.compression._host.OnnxRuntimeModel"
    assert info["details"] == {
        "onnxruntime": ort.__version__,
        "execution_providers": ["CPUExecutionProvider"],
    }
