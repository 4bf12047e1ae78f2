"""An empty method list runs no method (issue 11 #12): ``methods="none"`` or ``[]`` used to
fall back to every configured method."""

from __future__ import annotations

import pytest

from pytest_fairquant.plugin import MSG_NO_METHODS

TESTS = """
import pytest

@pytest.mark.fairquant(methods="none")
def test_none(quantized_model):
    raise AssertionError("ran with " + quantized_model.fairquant_info.method_id)

@pytest.mark.fairquant(methods=[])
def test_empty(pruned_model):
    raise AssertionError("ran with " + pruned_model.fairquant_info.method_id)

def test_default(quantized_model):
    pass
"""


def test_an_empty_methods_marker_skips_the_test_with_the_reason(fq: pytest.Pytester) -> None:
    fq.makepyfile(test_methods=TESTS)
    result = fq.runpytest("-rs", "-v")
    result.assert_outcomes(passed=1, skipped=2)
    out = result.stdout.str()
    assert "test_methods.py::test_none[none] SKIPPED" in out
    assert "test_methods.py::test_empty[none] SKIPPED" in out
    assert "test_methods.py::test_default[torch-dynamic-int8] PASSED" in out
    for name in ("test_none", "test_empty"):
        reason = MSG_NO_METHODS.format(
            shown="methods=[]", source=f"@pytest.mark.fairquant on test_methods.py::{name}"
        )
        assert reason in out


def test_quantization_none_on_the_command_line_names_the_flag(fq: pytest.Pytester) -> None:
    fq.makepyfile(test_methods="def test_q(quantized_model): pass")
    result = fq.runpytest("-rs", "--fairquant-quantization=none")
    result.assert_outcomes(skipped=1)
    reason = MSG_NO_METHODS.format(shown="--fairquant-quantization=none", source="command line")
    assert reason in result.stdout.str()
