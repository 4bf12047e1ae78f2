"""diagnose(): paper 002's gradient and Hessian diagnostics and paper 004's per-group measures."""

from __future__ import annotations

import copy
import json
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit, Diagnosis, compress, diagnose
from pytest_fairquant.diagnostics import FIELDS, FLIP_KEYS, NOTE_DEQUANTIZED
from pytest_fairquant.errors import InputError, MethodUnavailable


def _data(n: int = 160, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    noise = torch.randn(n, generator=gen, dtype=torch.float64)
    y = (x[:, 0] - 0.5 * x[:, 1] + noise > 0).long().numpy()
    groups = np.where(np.arange(n) % 4 == 0, "a", "b")
    return x, y, groups


def _logistic(d: int = 4, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(d, 1).double().eval()


def _explicit_loss(model: nn.Module, x: torch.Tensor, y: np.ndarray):  # type: ignore[no-untyped-def]
    target = torch.tensor(y, dtype=torch.float64)

    def loss(flat: torch.Tensor) -> torch.Tensor:
        w, b = flat[:-1], flat[-1]
        return nn.functional.binary_cross_entropy_with_logits(x @ w + b, target)

    flat = torch.cat([model.weight.detach().reshape(-1), model.bias.detach()])
    return loss, flat


def test_lambda_max_of_logistic_regression_matches_the_explicit_hessian() -> None:
    x, y, groups = _data()
    model = _logistic()
    perturbed = copy.deepcopy(model)
    with torch.no_grad():
        perturbed.weight.mul_(1.5)
    split = DemographicSplit(y, {"g": groups}, inputs=x)
    diag = diagnose(
        model,
        perturbed,
        split,
        device="cpu",
        max_iterations=2000,
        tolerance=1e-12,
        hessian_samples=1000,
    )
    for table, net in ((diag.dense_by_group, model), (diag.by_group, perturbed)):
        for group in ("a", "b"):
            rows = groups == group
            loss, flat = _explicit_loss(net, x[torch.from_numpy(rows)], y[rows])
            hessian = torch.autograd.functional.hessian(loss, flat)
            expected = float(torch.linalg.eigvalsh(hessian).max())
            assert table[group].hessian_lambda_max == pytest.approx(expected, abs=1e-4)
            assert table[group].hessian_converged
            assert 1 <= table[group].hessian_iterations <= 2000


def test_gradient_norms_match_autograd_on_the_group_loss() -> None:
    x, y, groups = _data()
    model = _logistic()
    split = DemographicSplit(y, {"g": groups}, inputs=x)
    diag = diagnose(model, copy.deepcopy(model), split, device="cpu", hessian=False)
    for group in ("a", "b"):
        rows = groups == group
        loss, flat = _explicit_loss(model, x[torch.from_numpy(rows)], y[rows])
        flat = flat.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(flat), flat)
        assert diag.dense_by_group[group].grad_norm == pytest.approx(float(grad.norm()), rel=1e-9)
        assert math.isnan(diag.dense_by_group[group].hessian_lambda_max)
        # the loss itself is the mean cross-entropy of the group
        assert diag.dense_by_group[group].loss == pytest.approx(
            float(loss(flat.detach())), rel=1e-6
        )


def _mlp_split(n: int = 240) -> tuple[nn.Module, DemographicSplit]:
    x, y, groups = _data(n)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)).eval()
    return model, DemographicSplit(y, {"g": groups}, inputs=x.float())


@pytest.mark.parametrize("method", ["torch-dynamic-int8", "bnb-int8", "bnb-nf4"])
def test_a_non_differentiable_variant_is_diagnosed_through_its_dequantized_equivalent(
    method: str,
) -> None:
    model, split = _mlp_split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the low-compression-share warning of a tiny MLP
        try:
            variant = compress(model, method)
        except MethodUnavailable as err:
            pytest.skip(err.reason)
    diag = diagnose(model, variant, split, device="cpu", max_iterations=5)
    assert diag.dequantized
    assert any(n.startswith(NOTE_DEQUANTIZED.split("(")[0]) for n in diag.notes)
    for group in diag.groups:
        row = diag.by_group[group]
        assert math.isfinite(row.grad_norm) and row.grad_norm > 0
        assert math.isfinite(row.hessian_lambda_max)
        assert row.logit_cosine_distance >= 0
        assert diag.dense_by_group[group].logit_cosine_distance == 0.0


def test_every_contract_field_is_there_and_to_dict_round_trips_through_json() -> None:
    model, split = _mlp_split()
    pruned = compress(model, "global-magnitude-0.5")
    diag = diagnose(model, pruned, split, device="cpu", max_iterations=5)
    assert isinstance(diag, Diagnosis)
    assert not diag.dequantized  # pruned weights are plain floats: differentiated directly
    for table in (diag.by_group, diag.dense_by_group):
        for group in ("a", "b"):
            for name in FIELDS:
                assert isinstance(table[group][name], float)
            assert set(table[group].flips) == set(FLIP_KEYS)
            assert sum(table[group].flips.values()) == table[group].n
    assert set(diag.iterations) == {"dense", "compressed"}
    data = diag.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert diag.summary_line().startswith("diagnosis (g): group ")


def test_flips_count_the_pair_table_per_group() -> None:
    model, split = _mlp_split()
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken[2].bias.add_(torch.tensor([100.0, -100.0]))  # everything becomes class 0
    diag = diagnose(model, broken, split, device="cpu", hessian=False)
    y = split.labels
    for group in ("a", "b"):
        rows = split.sensitive_features("g") == group
        flips = diag.by_group[group].flips
        assert flips["both_right"] + flips["dense_wrong_compressed_right"] == int(
            (rows & (y == 0)).sum()
        )
        assert flips["dense_right_compressed_wrong"] + flips["both_wrong"] == int(
            (rows & (y == 1)).sum()
        )
    # TCB of a model that never predicts the less common value is 0
    assert all(diag.by_group[g].tcb == 0.0 for g in ("a", "b"))


class _NoGrad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.fc(x)


def test_a_model_without_gradients_gets_nan_with_a_reason_never_a_crash() -> None:
    _, split = _mlp_split()
    model = _NoGrad().eval()
    diag = diagnose(model, copy.deepcopy(model), split, device="cpu", max_iterations=3)
    for table in (diag.by_group, diag.dense_by_group):
        value = table["a"].grad_norm
        assert math.isnan(value) and value.reason == "not_differentiable"  # type: ignore[attr-defined]
    assert any("no gradients for the dense model" in n for n in diag.notes)
    json.dumps(diag.to_dict(), allow_nan=False)


def test_max_samples_subsamples_stratified_and_says_so() -> None:
    model, split = _mlp_split(400)
    diag = diagnose(
        model, copy.deepcopy(model), split, device="cpu", hessian=False, max_samples=100
    )
    assert diag.n == 100
    assert any("subsample of 100 of 400" in n for n in diag.notes)
    assert diag.by_group["a"].n == 25


def test_bad_settings_are_refused() -> None:
    model, split = _mlp_split()
    with pytest.raises(InputError, match="max_iterations must be a positive int"):
        diagnose(model, model, split, max_iterations=0)


def test_a_failing_gate_on_two_models_says_why_in_one_line() -> None:
    """The diagnosis names the group that lost most and what changed for it; a gate on
    predictions (no models to differentiate) has no such line, and the verdict is the same."""
    from test_attribution import _setup

    from pytest_fairquant import assert_no_bias_amplification, compress
    from pytest_fairquant.evaluate import predict
    from pytest_fairquant.gate import FairnessAssertionError

    model, split = _setup()
    variant = compress(model, "uniform-int2")
    with pytest.raises(FairnessAssertionError) as raised:
        assert_no_bias_amplification(model, variant, split, attribute="g", tolerance=0.02)
    line = str(raised.value).splitlines()[-1]
    assert line.startswith("diagnosis (g): group 'b': loss ")
    assert line.endswith(" harmed / 0 helped of 128")  # 256 samples at most, 128 a group
    base, comp = predict(model, split, method="dense"), predict(variant, split, method="int2")
    with pytest.raises(FairnessAssertionError) as arrays:
        assert_no_bias_amplification(base, comp, split, attribute="g", tolerance=0.02)
    assert "diagnosis" not in str(arrays.value)
    assert arrays.value.comparisons[0].verdict == raised.value.comparisons[0].verdict == "fail"
