"""Problems found once, at configure time, instead of a crash or an error in every test
(issue 11 #10): a broken third-party method, an unusable device, an unusable cache dir."""

from __future__ import annotations

import pytest
import torch

from pytest_fairquant.evaluate import MSG_BAD_DEVICE, MSG_NO_CUDA

BROKEN_METHODS = """
from pytest_fairquant.compression import registry

def _factory_raises():
    raise ImportError("libfancyquant.so: cannot open shared object file")

class _AvailabilityRaises:
    name = "check-raises"
    params = {}
    def available(self):
        raise OSError("nvidia-smi not found")
    def apply(self, model):
        return model

registry.register_method("factory-raises", _factory_raises, replace=True)
registry.register_method("check-raises", _AvailabilityRaises, replace=True)
# What an entry point that fails to import leaves in the registry.
registry._entries()["ep-broken"] = registry._Entry(
    pattern="ep-broken", factory=None, regex=registry._compile("ep-broken"), family="unknown",
    description="entry point fancy:method", example=None,
    error="entry point 'ep-broken' (fancy:method) of group 'pytest_fairquant.methods' failed "
    "to load: ModuleNotFoundError(\\"No module named 'fancy'\\")",
)
"""

GATE = """
def test_gate(quantized_model):
    pass
"""


def test_a_broken_third_party_method_skips_with_its_reason(
    fq: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_fairquant.compression import registry

    # The inner run registers its methods in this process's registry: on a copy, dropped after.
    monkeypatch.setattr(registry._REGISTRY, "entries", dict(registry._entries()))
    fq.makeconftest(BROKEN_METHODS)
    fq.makepyfile(test_gate=GATE)
    result = fq.runpytest(
        "-rs", "--fairquant-quantization=factory-raises,check-raises,ep-broken,fp16"
    )
    # It was an INTERNALERROR from pytest_configure: the whole session died.
    result.assert_outcomes(passed=1, skipped=3)
    out = result.stdout.str()
    assert (
        "factory-raises: the method's backend is broken: ImportError: libfancyquant.so: "
        "cannot open shared object file" in out
    )
    assert "check-raises: the method's backend is broken: OSError: nvidia-smi not found" in out
    assert (
        "ep-broken: entry point 'ep-broken' (fancy:method) of group 'pytest_fairquant.methods' "
        "failed to load" in out
    )


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--fairquant-device=tpu"],
            "",
            "fairquant: --fairquant-device=tpu (command line): "
            + MSG_BAD_DEVICE.format(device="tpu"),
        ),
        (
            [],
            "fairquant_device = cuda:1\n",
            "fairquant: fairquant_device = cuda:1 (tox.ini [pytest]): "
            + MSG_NO_CUDA.format(device="cuda:1"),
        ),
    ],
    ids=["unknown", "no-cuda"],
)
def test_an_unusable_device_is_one_usage_error_naming_the_setting(
    fq: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    if ini:
        fq.makeini("[pytest]\naddopts = -p no:cacheprovider\n" + ini)
    fq.makepyfile(test_gate=GATE)
    result = fq.runpytest(*args)
    # It was a raw InputError/EvaluationError in every test that evaluated a model.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [f"ERROR: {message}"]


SPLIT_GATE = """
from pytest_fairquant import assert_no_bias_amplification

def test_one(model, demographic_split):
    assert_no_bias_amplification(model, model, demographic_split, attribute="gender",
                                 gap="accuracy_drop", tolerance=0.2)

def test_two(model, demographic_split):
    assert_no_bias_amplification(model, model, demographic_split, attribute="gender",
                                 gap="accuracy_drop", tolerance=0.2)
"""


def test_an_unusable_cache_dir_falls_back_to_memory_with_one_warning(fq: pytest.Pytester) -> None:
    (fq.path / "blocker").write_text("a file where the cache directory should be")
    fq.makepyfile(test_fallback_gates=SPLIT_GATE)
    result = fq.runpytest("--fairquant-cache-dir=blocker/cache", "-W", "default")
    # It was an error in every test that predicted (NotADirectoryError from the cache).
    result.assert_outcomes(passed=2, warnings=1)
    out = result.stdout.str()
    assert out.count("CacheFallbackWarning: ") == 1
    assert (
        "--fairquant-cache-dir=blocker/cache (command line): the prediction cache directory " in out
    )
    assert "predictions are kept in memory for this run only" in out
