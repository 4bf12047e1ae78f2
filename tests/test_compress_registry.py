"""Method ids, the registry and its extension points, availability, and bad input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from pytest_fairquant.compression import (
    ENTRY_POINT_GROUP,
    MSG_NEEDS_CUDA,
    MSG_NO_TARGETS,
    MSG_PARAM_CONFLICT,
    CompressionMethod,
    compress,
    compression_methods,
    parse_method_id,
    register_method,
)
from pytest_fairquant.compression import registry as registry_module
from pytest_fairquant.errors import CompressionError, InputError, MethodUnavailable
from pytest_fairquant.fingerprint import model_fingerprint

METRICS_IDS = (
    "bnb-int8",
    "bnb-nf4",
    "bnb-fp4",
    "torch-dynamic-int8",
    "torchao-int8-weight",
    "torchao-int8-dynamic",
    "uniform-int{bits}",
    "fp16",
    "bf16",
    "kmeans-{clusters}",
    "global-magnitude-{sparsity}",
    "l1-unstructured-{sparsity}",
    "ln-structured-{sparsity}",
    "nm-{n}:{m}",
)


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registry with only the built-ins, restored afterwards."""
    monkeypatch.setattr(registry_module, "_REGISTRY", registry_module._Registry())
    yield


@dataclass(frozen=True)
class Scale:
    """A third-party method: multiply every Linear weight by ``factor``."""

    factor: float = 2.0
    needs_gpu: bool = False
    family = "custom"
    description = "scale Linear weights"

    @property
    def name(self) -> str:
        return f"scale-{self.factor}"

    @property
    def params(self) -> Mapping[str, Any]:
        return {"factor": self.factor, "needs_gpu": self.needs_gpu}

    def available(self) -> tuple[bool, str | None]:
        return (False, "needs CUDA") if self.needs_gpu else (True, None)

    def apply(self, model: nn.Module) -> nn.Module:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    m.weight.mul_(self.factor)
        return model


@pytest.mark.parametrize(
    ("method_id", "pattern", "params"),
    [
        ("global-magnitude-0.9", "global-magnitude-{sparsity}", {"sparsity": 0.9}),
        ("nm-2:4", "nm-{n}:{m}", {"n": 2, "m": 4}),
        ("kmeans-16", "kmeans-{clusters}", {"clusters": 16}),
        ("uniform-int4", "uniform-int{bits}", {"bits": 4, "per_channel": False}),
        ("uniform-int11", "uniform-int{bits}", {"bits": 11}),
        ("bnb-nf4", "bnb-nf4", {"blocksize": 64, "compute_dtype": "float32"}),
        ("bnb-int8", "bnb-int8", {"threshold": 6.0}),
    ],
)
def test_ids_parse_their_parameters(method_id: str, pattern: str, params: dict[str, Any]) -> None:
    parsed = parse_method_id(method_id)
    assert parsed.method_id == method_id and parsed.pattern == pattern
    assert params.items() <= dict(parsed.params).items()


def test_keyword_parameters_extend_the_id_and_conflicts_are_named() -> None:
    assert parse_method_id("uniform", bits=5).params["bits"] == 5
    assert parse_method_id("uniform-int4", per_channel=True).params["per_channel"] is True
    with pytest.raises(InputError) as err:
        parse_method_id("uniform-int4", bits=8)
    assert str(err.value) == MSG_PARAM_CONFLICT.format(
        method_id="uniform-int4", name="bits", in_id=4, given=8
    )


def test_every_metrics_method_is_listed_and_available_here() -> None:
    statuses = {s.id: s for s in compression_methods()}
    for method_id in METRICS_IDS:
        status = statuses[method_id]
        assert status.available and status.reason is None, status
        assert status.family in ("quantization", "pruning") and status.description
    assert statuses["nm-{n}:{m}"].family == "pruning"
    assert statuses["bnb-int8"].family == "quantization"


@pytest.mark.parametrize("method_id", ["int8", "global-magnitude-abc", "nm-2-4", "uniform-int"])
def test_unknown_ids_list_what_exists(method_id: str) -> None:
    with pytest.raises(InputError, match="unknown compression method") as err:
        parse_method_id(method_id)
    for known in ("bnb-nf4", "global-magnitude-{sparsity}", "nm-{n}:{m}", "kmeans-{clusters}"):
        assert known in str(err.value)


@pytest.mark.parametrize(
    ("method_id", "params", "fragment"),
    [
        ("global-magnitude-0", {}, "S=0 is out of range, a fraction strictly between 0 and 1"),
        ("global-magnitude-1", {}, "S=1 is out of range"),
        ("l1-unstructured-1.5", {}, "S=1.5 is out of range"),
        ("ln-structured-0.0", {}, "S=0.0 is out of range"),
        ("nm-4:4", {}, "N=4 is out of range, an integer with 1 ≤ N < M = 4"),
        ("nm-5:4", {}, "N=5 is out of range"),
        ("nm-1:1", {}, "M=1 is out of range"),
        ("uniform-int1", {}, "bits=1 is out of range, an integer from 2 to 16"),
        ("uniform-int17", {}, "bits=17 is out of range"),
        ("uniform", {"bits": 3.5}, "bits=3.5 is out of range"),
        ("kmeans-1", {}, "K=1 is out of range, an integer from 2 to 65536"),
        ("bnb-nf4", {"blocksize": 48}, "blocksize=48 is out of range"),
        ("bnb-fp4", {"compute_dtype": "int8"}, "compute_dtype='int8' is out of range"),
    ],
)
def test_parameters_out_of_range_say_the_rule(
    method_id: str, params: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InputError) as err:
        parse_method_id(method_id, **params)
    assert fragment in str(err.value)


def test_unknown_keyword_lists_accepted_parameters() -> None:
    with pytest.raises(InputError, match="does not accept the parameters") as err:
        parse_method_id("kmeans-4", centroids=3)
    assert "clusters, max_iter, skip" in str(err.value)


def test_model_without_compressible_layers_names_class_and_needs() -> None:
    model = nn.Sequential(nn.ReLU(), nn.Flatten())
    with pytest.raises(CompressionError) as err:
        compress(model, "global-magnitude-0.5")
    needs = "nn.Linear or nn.Conv1d/2d/3d or nn.MultiheadAttention layers"
    assert str(err.value) == MSG_NO_TARGETS.format(
        cls="Sequential", method_id="global-magnitude-0.5", needs=needs
    )
    convs_only = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(CompressionError, match=r"it needs nn\.Linear layers"):
        compress(convs_only, "bnb-int8")


def test_not_a_module_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"compress\(\) needs a torch\.nn\.Module, got dict"):
        compress({"weight": torch.zeros(2)}, "fp16")  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_only_request_on_cpu_is_unavailable_with_reason() -> None:
    model = nn.Sequential(nn.Linear(4, 4))
    for method_id in ("bnb-int8", "bnb-nf4"):
        with pytest.raises(MethodUnavailable) as err:
            compress(model, method_id, device="cuda")
        assert err.value.method_id == method_id
        assert err.value.reason == MSG_NEEDS_CUDA.format(device="cuda")


def test_register_method_and_use_it(fresh_registry: None) -> None:
    register_method("scale-{factor}", Scale, example="scale-2")
    model = nn.Sequential(nn.Linear(3, 2))
    variant = compress(model, "scale-3")
    assert torch.allclose(variant[0].weight, 3 * model[0].weight)
    info = variant.fairquant_info
    assert info.family == "custom" and info.converted == ("0",) and info.params["factor"] == 3
    status = {s.id: s for s in compression_methods()}["scale-{factor}"]
    assert status.available and status.description == "scale Linear weights"
    assert isinstance(Scale(), CompressionMethod)
    with pytest.raises(InputError, match="already registered"):
        register_method("scale-{factor}", Scale, example="scale-2")
    with pytest.raises(InputError, match="needs example="):
        register_method("other-{x}", Scale)


def test_registered_method_that_is_unavailable_raises_with_its_reason(
    fresh_registry: None,
) -> None:
    register_method("scale-{factor}", Scale, example="scale-2")
    with pytest.raises(MethodUnavailable) as err:
        compress(nn.Linear(2, 2), "scale-2", needs_gpu=True)
    assert err.value.reason == "needs CUDA"
    assert "'scale-2' is unavailable: needs CUDA" in str(err.value)


def _write_dist(root: Path, name: str, entry: str, module_source: str) -> None:
    dist = root / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry}\n")
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))


def test_entry_points_register_methods_and_broken_ones_are_reported(
    fresh_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_dist(
        tmp_path,
        "fq_ext_good",
        "halve = fq_ext_good:Halve",
        """
        import torch

        class Halve:
            family = "custom"
            description = "halve every Linear weight"
            name = "halve"
            params = {}

            def available(self):
                return True, None

            def apply(self, model):
                with torch.no_grad():
                    for p in model.parameters():
                        p.mul_(0.5)
                return model
        """,
    )
    _write_dist(tmp_path, "fq_ext_bad", "broken = fq_ext_bad:Missing", "x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    statuses = {s.id: s for s in compression_methods()}
    assert statuses["halve"].available and statuses["halve"].family == "custom"
    broken = statuses["broken"]
    assert not broken.available and broken.reason is not None
    assert "entry point 'broken' (fq_ext_bad:Missing)" in broken.reason
    assert "Missing" in broken.reason
    model = nn.Linear(2, 2)
    assert torch.allclose(compress(model, "halve").weight, model.weight / 2)
    with pytest.raises(MethodUnavailable, match="failed to load"):
        compress(model, "broken")


def test_importing_the_package_does_not_import_torch() -> None:
    code = (
        "import sys, pytest_fairquant.compression as c; c.parse_method_id('nm-2:4'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_edited_method_is_another_variant_for_the_prediction_cache(
    fresh_registry: None,
) -> None:
    # A variant is keyed by its method's code too (issue 11 #2): a third-party method whose
    # apply() was edited, under the same id and parameters, must not be served the old
    # variant's cached predictions.
    @dataclass(frozen=True)
    class EditedScale(Scale):
        def apply(self, model: nn.Module) -> nn.Module:
            scaled = super().apply(model)
            with torch.no_grad():
                scaled[0].bias.zero_()
            return scaled

    model = nn.Sequential(nn.Linear(3, 2))
    register_method("scale-{factor}", Scale, example="scale-2")
    first = model_fingerprint(compress(model, "scale-3"))
    assert model_fingerprint(compress(model, "scale-3")) == first
    register_method("scale-{factor}", EditedScale, example="scale-2", replace=True)
    assert model_fingerprint(compress(model, "scale-3")) != first
    assert "method_code" not in compress(model, "scale-3").fairquant_info.to_dict()
