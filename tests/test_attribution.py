"""attribute_harm(): per-layer shares of a method's harm and the skip list that makes a gate pass."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit, attribute_harm
from pytest_fairquant.attribution import MSG_BUDGET, compressible_layers, format_attribution
from pytest_fairquant.errors import InputError


class TwoBranches(nn.Module):
    """Group a is read by ``branch_a``, group b by ``branch_b`` (the last input is the group)."""

    def __init__(self) -> None:
        super().__init__()
        self.branch_a = nn.Linear(4, 3)
        self.branch_b = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, in_b = x[:, :4], x[:, 4:5]
        return in_b * self.branch_b(features) + (1 - in_b) * self.branch_a(features)


def _setup(n: int = 1600) -> tuple[nn.Module, DemographicSplit]:
    torch.manual_seed(0)
    model = TwoBranches().eval()
    with torch.no_grad():
        # branch a: large margins, so 2-bit weights change its values but not its answers
        model.branch_a.weight.copy_(
            torch.tensor([[4.0, 0, 0, 0.3], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
        )
        model.branch_a.bias.zero_()
        model.branch_b.weight[0, 0] = 3.0  # one outlier: a coarse 2-bit grid for branch b
    gen = torch.Generator().manual_seed(1)
    in_b = (torch.arange(n) % 2).float()
    features = torch.randn(n, 4, generator=gen)
    onehot = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=gen), 4).float()
    features = torch.where(in_b[:, None] == 1, features, 3 * onehot)  # group a: clear cases
    x = torch.cat([features, in_b[:, None]], dim=1)
    with torch.no_grad():
        labels = model(x).argmax(dim=1).numpy()  # the dense model is right everywhere
    groups = np.where(in_b.numpy() == 1, "b", "a")
    return model, DemographicSplit(labels, {"g": groups}, inputs=x)


def test_the_harmful_layer_is_ranked_first_and_skipping_it_passes() -> None:
    model, split = _setup()
    assert [name for name, _ in compressible_layers(model, "uniform-int2")] == [
        "branch_a",
        "branch_b",
    ]
    result = attribute_harm(
        model, "uniform-int2", split, attribute="g", gap="fvo", tolerance=0.02, device="cpu"
    )
    assert result.full.verdict == "fail"
    assert result.top_layers[0] == "branch_b"
    assert result.layers[0].share > 0.9
    assert result.skip == ("branch_b",)
    assert result.skip_comparison is not None and result.skip_comparison.passed
    assert (
        result.compressed_share is not None
        and 0 < result.compressed_share < result.full_compressed_share
    )
    assert "branch_b" in result.hint()
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["skip"] == ["branch_b"]
    assert "branch_b" in format_attribution(result)


def test_budget_limits_the_layers_and_says_so() -> None:
    model, split = _setup(400)
    result = attribute_harm(
        model, "uniform-int2", split, attribute="g", tolerance=0.05, budget=1, device="cpu"
    )
    assert len(result.layers) == 1
    assert any("budget=1" in n for n in result.notes)
    with pytest.raises(InputError, match="budget must be"):
        attribute_harm(model, "uniform-int2", split, budget=0)
    assert MSG_BUDGET
