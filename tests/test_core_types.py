"""The shared building blocks: array coercion, Undefined, model fingerprints, lazy imports."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest

from pytest_fairquant._arrays import (
    MSG_EMPTY,
    MSG_LENGTH,
    as_array,
    as_finite,
    as_labels,
    as_probabilities,
)
from pytest_fairquant.errors import FairquantError, InputError, MethodUnavailable
from pytest_fairquant.undefined import Undefined, reason_of


def test_as_array_accepts_lists_numpy_and_torch() -> None:
    torch = pytest.importorskip("torch")
    assert as_array([1, 2], name="x").tolist() == [1, 2]
    assert as_array(np.array([3]), name="x").tolist() == [3]
    assert as_array(torch.tensor([4, 5]), name="x").tolist() == [4, 5]
    assert as_array(torch.tensor([0.5], dtype=torch.bfloat16), name="x").dtype == np.float32
    with pytest.raises(InputError, match="x must be array-like"):
        as_array(object(), name="x")


def test_labels_reject_fractions_and_check_alignment() -> None:
    assert as_labels([1.0, 0.0], name="y_pred").dtype == np.int64
    with pytest.raises(InputError, match="pass predicted labels"):
        as_labels([0.2, 0.9], name="y_pred")
    with pytest.raises(
        InputError, match=MSG_LENGTH.format(name="y_pred", got=1, ref_name="y_true", want=2)
    ):
        as_labels([1], name="y_pred", n=2)
    with pytest.raises(InputError, match=MSG_EMPTY.format(name="y_true")):
        as_labels([], name="y_true")


def test_probabilities_must_be_finite_and_in_range() -> None:
    with pytest.raises(
        InputError, match="y_prob contains 1 NaN or infinite values \\(first at index 1\\)"
    ):
        as_probabilities([0.1, float("nan")], name="y_prob")
    with pytest.raises(InputError, match=r"must hold probabilities in \[0, 1\]; found 1\.5"):
        as_probabilities([0.1, 1.5], name="y_prob")
    with pytest.raises(InputError, match="scores contains 1 NaN"):
        as_finite([0.0, float("inf")], name="scores")


def test_undefined_is_nan_with_a_reason() -> None:
    value = Undefined("no_positives", "group 'b' has no positives")
    assert math.isnan(value)
    assert value != 0.0
    assert reason_of(value) == "no_positives"
    assert reason_of(float("nan")) == "nan"
    assert reason_of(0.3) is None
    assert pickle.loads(pickle.dumps(value)).reason == "no_positives"
    assert (
        json.dumps(value.to_dict())
        == '{"reason": "no_positives", "detail": "group \'b\' has no positives"}'
    )
    with pytest.raises(ValueError, match="unknown Undefined reason"):
        Undefined("because")


def test_error_tree() -> None:
    err = MethodUnavailable("bnb-int8", "needs CUDA")
    assert isinstance(err, FairquantError)
    assert "bnb-int8" in str(err) and err.reason == "needs CUDA"
    assert issubclass(InputError, ValueError)


def test_model_fingerprint_follows_weights() -> None:
    torch = pytest.importorskip("torch")
    from pytest_fairquant.fingerprint import model_fingerprint

    torch.manual_seed(0)
    a = torch.nn.Linear(3, 2)
    b = torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert model_fingerprint(a) == model_fingerprint(b)
    with torch.no_grad():
        b.weight[0, 0] += 1e-3
    assert model_fingerprint(a) != model_fingerprint(b)
    b.fairquant_fingerprint = "pinned"
    assert model_fingerprint(b) == "pinned"


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, pytest_fairquant, pytest_fairquant.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


_PUBLIC_NAMES_CHECK = """
import importlib, sys
first = sys.argv[1]
importlib.import_module(first)
import pytest_fairquant
wrong = []
for name in sorted(pytest_fairquant._EXPORTS):
    value = getattr(pytest_fairquant, name)
    module = pytest_fairquant._EXPORTS[name]
    if value is not getattr(importlib.import_module(module), name) or (
        type(value).__name__ == "module"
    ):
        wrong.append(name)
print(",".join(wrong) or "ok")
"""


@pytest.mark.parametrize(
    "imported_first", ["pytest_fairquant", "pytest_fairquant.compression", "pytest_fairquant.stats"]
)
def test_every_public_name_is_its_documented_object_in_any_import_order(
    imported_first: str,
) -> None:
    # `compress` (the function) once shared its name with the subpackage, and whichever import
    # ran first decided what `from pytest_fairquant import compress` gave.
    for order in ("forward", "reverse"):
        code = _PUBLIC_NAMES_CHECK
        if order == "reverse":
            code = code.replace("sorted(pytest_fairquant._EXPORTS)", "sorted(pytest_fairquant._EXPORTS, reverse=True)")
        out = subprocess.run(
            [sys.executable, "-c", code, imported_first], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "ok", f"public names resolving to the wrong object: {out.stdout}"
    from pytest_fairquant import compress

    assert callable(compress) and compress.__module__.startswith("pytest_fairquant.compression")
