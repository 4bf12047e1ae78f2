"""quantized_model / pruned_model: one test per method, ids, grouping, lifetime, skips, bad ids."""

from __future__ import annotations

from typing import Any

import pytest

VARIANTS = """
import json
from pytest_fairquant.plugin import state_key

SEEN = {}

def test_a(quantized_model, request):
    SEEN.setdefault(request.node.callspec.id, set()).add(id(quantized_model))
    print("LIVE=" + json.dumps(sorted(request.config.stash[state_key].live_methods)))

def test_b(quantized_model, request):
    SEEN.setdefault(request.node.callspec.id, set()).add(id(quantized_model))
    assert len(SEEN[request.node.callspec.id]) == 1  # built once, shared by the block

def test_pruned(pruned_model):
    assert pruned_model.fairquant_info is not None

def test_after(request):
    print("AFTER=" + json.dumps(sorted(request.config.stash[state_key].live_methods)))
"""


def test_ids_name_the_method_and_tests_run_grouped_by_method(fq: pytest.Pytester) -> None:
    fq.makepyfile(test_variants=VARIANTS)
    result = fq.runpytest("--co", "-q", "--fairquant-quantization=torch-dynamic-int8,fp16")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [
        "test_variants.py::test_a[torch-dynamic-int8]",
        "test_variants.py::test_b[torch-dynamic-int8]",
        "test_variants.py::test_a[fp16]",
        "test_variants.py::test_b[fp16]",
        "test_variants.py::test_pruned[global-magnitude-0.5]",
        "test_variants.py::test_after",
    ]


def test_variants_are_built_once_and_released_after_their_block(
    fq: pytest.Pytester, printed: Any
) -> None:
    fq.makepyfile(test_variants=VARIANTS)
    result = fq.runpytest("-s", "--fairquant-quantization=torch-dynamic-int8,fp16")
    result.assert_outcomes(passed=6)
    assert printed(result, "AFTER") == []


def test_marker_methods_override_the_configured_list(fq: pytest.Pytester) -> None:
    fq.makepyfile(
        """
        import pytest

        @pytest.mark.fairquant(methods=["fp16"])
        def test_only_fp16(quantized_model):
            assert quantized_model.fairquant_info is not None
        """
    )
    result = fq.runpytest("--co", "-q")
    assert [line for line in result.outlines if "::" in line] == [
        "test_marker_methods_override_the_configured_list.py::test_only_fp16[fp16]"
    ]


def test_unknown_method_id_names_the_setting_and_source(fq: pytest.Pytester) -> None:
    fq.makepyfile("def test_q(quantized_model): pass")
    result = fq.runpytest("--fairquant-quantization=torch-dynamic-int8,no-such-method")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stderr.str()
    assert (
        "--fairquant-quantization (command line): unknown compression method 'no-such-method'; "
        "known ids and patterns: " in text
    )


def test_unavailable_method_skips_with_the_backend_reason(fq: pytest.Pytester) -> None:
    # Every real backend may run on some machine; a registered method that never can does not.
    fq.makeconftest(
        """
        from pytest_fairquant.compression import register_method

        class NeverHere:
            name = "never-here"
            params = {}
            family = "quantization"
            description = "a backend this machine lacks"

            def available(self):
                return False, "needs a quantum accelerator"

            def apply(self, model):
                raise AssertionError("never applied")

        register_method("never-here", NeverHere, replace=True)
        """
    )
    fq.makepyfile("def test_q(quantized_model): pass")
    result = fq.runpytest("-rs", "--fairquant-quantization=never-here")
    result.assert_outcomes(skipped=1)
    assert "never-here: needs a quantum accelerator" in result.stdout.str()


def test_unknown_method_in_a_marker_is_a_collection_error_of_that_module(
    fq: pytest.Pytester,
) -> None:
    fq.makepyfile(
        """
        import pytest

        @pytest.mark.fairquant(methods=["fp17"])
        def test_q(quantized_model):
            pass
        """
    )
    result = fq.runpytest()
    result.assert_outcomes(errors=1)
    assert (
        "fairquant: methods=['fp17'] (@pytest.mark.fairquant on "
        "test_unknown_method_in_a_marker_is_a_collection_error_of_that_module.py::test_q): "
        "unknown compression method 'fp17'; known ids" in result.stdout.str()
    )


def test_methods_flag_replaces_the_lists_for_a_run(fq: pytest.Pytester) -> None:
    fq.makepyfile(test_variants=VARIANTS)
    result = fq.runpytest("--co", "-q", "--fairquant-methods=fp16")
    assert [line for line in result.outlines if "::" in line] == [
        "test_variants.py::test_a[fp16]",
        "test_variants.py::test_b[fp16]",
        "test_variants.py::test_pruned[fp16]",
        "test_variants.py::test_after",
    ]
