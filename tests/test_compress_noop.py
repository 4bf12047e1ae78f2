"""A variant must differ from its dense model: unknown skip names and no-op variants (issue 11 #9).

Before: a ``skip=`` name that matched no layer was ignored, and skipping every layer returned a
copy of the dense model that every gate then passed (the dense model compared with itself, the
failure bitsandbytes #629 reported for a quantization that did not quantize).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit
from pytest_fairquant.compression import (
    MSG_UNCHANGED,
    MSG_UNKNOWN_SKIP,
    compress,
    register_method,
)
from pytest_fairquant.compression import registry as registry_module
from pytest_fairquant.errors import InputError, UnchangedVariant
from pytest_fairquant.evaluate import VariantFailure, evaluate_variants

torch.set_num_threads(1)

SKIPPING = ("uniform-int8", "kmeans-16", "global-magnitude-0.5", "torch-dynamic-int8", "bnb-int8")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16))
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)))


@pytest.fixture(scope="module")
def net() -> Net:
    return Net().eval()


def _prefix(template: str) -> str:
    return template.split("{")[0]


@pytest.mark.parametrize("method_id", SKIPPING)
def test_an_unknown_skip_name_is_an_error_naming_it_and_valid_ones(
    net: Net, method_id: str
) -> None:
    with pytest.raises(InputError) as err:
        compress(net, method_id, skip=["haed", "body.0", "body.9"])
    text = str(err.value)
    assert text.startswith(f"{method_id!r}: skip= names 'haed', 'body.9'")
    assert "'body.0'" not in text.split(" but ")[0]  # the known name is not blamed
    assert "Net has no such layer" in text and "3 layers it compresses" in text
    assert "e.g. 'body.0', 'body.2', 'head'" in text


def test_the_valid_names_listed_are_capped(net: Net) -> None:
    wide = nn.Sequential(*[nn.Linear(2, 2) for _ in range(40)])
    with pytest.raises(InputError) as err:
        compress(wide, "uniform-int8", skip="nope")
    text = str(err.value)
    assert "40 layers it compresses, e.g. '0', '1', '2', '3', '4', '5', and 34 more" in text
    assert len(text) < 400


def test_a_parent_module_name_is_a_valid_skip(net: Net) -> None:
    variant = compress(net, "uniform-int8", skip=["body"])
    assert variant.fairquant_info.converted == ("head",)
    assert torch.equal(variant.body[0].weight, net.body[0].weight)


@pytest.mark.parametrize("method_id", SKIPPING)
def test_skipping_every_layer_is_compression_changed_nothing(net: Net, method_id: str) -> None:
    with pytest.raises(UnchangedVariant) as err:
        compress(net, method_id, skip=["body", "head"])
    text = str(err.value)
    assert text.startswith(f"{method_id!r}: compression changed nothing")
    assert "skip=['body', 'head'] covers every layer it compresses (3)" in text
    assert text == MSG_UNCHANGED.format(
        method_id=method_id,
        cls="Net",
        why=" (skip=['body', 'head'] covers every layer it compresses (3))",
    )


def test_torch_dynamic_skipping_what_it_can_convert_changed_nothing() -> None:
    # torch's dynamic int8 never converts attention projections: skipping the only other
    # Linear leaves a variant equal to the dense model, though skip= did not name every layer.
    model = nn.Sequential(nn.MultiheadAttention(8, 2), nn.Linear(8, 2))

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = model[0]
            self.fc = model[1]

    with pytest.raises(UnchangedVariant, match="compression changed nothing"):
        compress(Wrapped().eval(), "torch-dynamic-int8", skip=["fc"])


@dataclass(frozen=True)
class Scale:
    """A third-party method: multiply every Linear weight by ``factor``."""

    factor: float = 2.0
    family = "custom"

    @property
    def name(self) -> str:
        return f"scale-{self.factor:g}"

    @property
    def params(self) -> dict[str, float]:
        return {"factor": self.factor}

    def available(self) -> tuple[bool, str | None]:
        return True, None

    def apply(self, model: nn.Module) -> nn.Module:
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.Linear):
                    module.weight.mul_(self.factor)
        return model


@pytest.fixture
def scale_method(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry_module, "_REGISTRY", registry_module._Registry())
    register_method("scale-{factor}", Scale, example="scale-2")
    yield


def test_a_third_party_method_that_did_nothing_is_refused(net: Net, scale_method: None) -> None:
    assert compress(net, "scale-2").fairquant_info.converted == ("body.0", "body.2", "head")
    with pytest.raises(UnchangedVariant) as err:
        compress(net, "scale-1")
    assert str(err.value) == MSG_UNCHANGED.format(method_id="scale-1", cls="Net", why="")


def test_evaluate_variants_reports_a_no_op_variant_as_a_failure(net: Net) -> None:
    rng = np.random.default_rng(0)
    split = DemographicSplit(
        rng.integers(0, 3, 60),
        {"g": rng.choice(["a", "b"], 60)},
        inputs=torch.from_numpy(rng.normal(size=(60, 4)).astype(np.float32)),
    )
    results = evaluate_variants(
        net,
        ["uniform-int8", "uniform-int4"],
        split,
        noise_check=0,
        params={"uniform-int8": {"skip": ["body", "head"]}},
    )
    failure = results["uniform-int8"]
    assert isinstance(failure, VariantFailure) and failure.stage == "compress"
    assert failure.reason.startswith("'uniform-int8': compression changed nothing")
    assert not isinstance(results["uniform-int4"], VariantFailure)


def test_messages_say_what_to_do() -> None:
    assert "module name as in model.named_modules()" in MSG_UNKNOWN_SKIP
    assert _prefix(MSG_UNCHANGED) == ""
    assert "compare the model with itself" in MSG_UNCHANGED
