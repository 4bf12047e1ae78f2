"""Compression drift: weights, sparsity, per-group logit drift, flips and CIEs."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_fairquant import metrics as M


def test_weight_distance_and_sparsity_on_arrays_and_state_dicts() -> None:
    dense = {
        "w": np.array([[1.0, -2.0], [0.5, 0.0]]),
        "b": np.array([0.1, 0.2]),
        "steps": np.array(3),
    }
    compressed = {
        "w": np.array([[1.0, 0.0], [0.0, 0.0]]),
        "b": np.array([0.1, 0.25]),
        "steps": np.array(3),
    }
    assert M.weight_abs_difference(dense, compressed) == pytest.approx(2.0 + 0.5 + 0.05)
    assert M.sparsity(compressed) == pytest.approx(3 / 6)  # integer entries are not weights
    assert M.weight_abs_difference(dense["w"], compressed["w"]) == pytest.approx(2.5)
    assert M.sparsity(np.array([0.0, 1.0, 0.0, 0.0])) == 0.75


def test_torch_modules_and_pruned_weights() -> None:
    torch = pytest.importorskip("torch")
    from torch.nn.utils import prune

    torch.manual_seed(0)
    dense = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    pruned = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    pruned.load_state_dict(dense.state_dict())
    prune.l1_unstructured(pruned[0], name="weight", amount=0.5)  # weight_orig + weight_mask
    removed = float((dense[0].weight.detach() * (1 - pruned[0].weight_mask)).abs().sum())
    assert M.weight_abs_difference(dense, pruned) == pytest.approx(removed, rel=1e-6)
    assert M.sparsity(pruned) == pytest.approx(24 / (48 + 6 + 12 + 2))
    assert M.sparsity(pruned.state_dict()) == pytest.approx(M.sparsity(pruned))
    assert M.weight_abs_difference(dense.state_dict(), pruned.state_dict()) == pytest.approx(
        removed, rel=1e-6
    )
    assert M.weight_abs_difference(dense, dense) == 0.0


def test_logit_drift_per_group() -> None:
    dense = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, 4.0]])
    compressed = np.array([[0.0, 1.0], [0.0, 3.0], [1.0, 1.0], [3.0, 4.0]])
    groups = ["a", "a", "b", "b"]
    report = M.logits_cosine_distance(dense, compressed, sensitive_features=groups)
    assert report.metrics == ("logit_cosine_distance",)
    assert report.by_group["logit_cosine_distance"] == pytest.approx(
        {"a": 0.5, "b": 0.0}, abs=1e-12
    )
    assert report.overall["logit_cosine_distance"] == pytest.approx(0.25, abs=1e-12)
    variance = M.logit_variance(dense, sensitive_features=groups)
    assert variance.by_group["logit_variance"] == pytest.approx(
        {"a": (0.25 + 1.0) / 2, "b": (0.0 + 0.25) / 2}
    )
    zero = M.logits_cosine_distance(
        np.zeros((2, 2)), np.ones((2, 2)), sensitive_features=["a", "b"]
    )
    assert zero.by_group["logit_cosine_distance"]["a"].reason == "zero_denominator"


def test_flip_rate_per_group() -> None:
    report = M.flip_rate(
        [0, 1, 2, 2],
        [0, 2, 2, 1],
        sensitive_features=["x", "x", "y", "y"],
        sample_weight=[1, 3, 1, 1],
    )
    assert report.by_group["flip_rate"] == pytest.approx({"x": 0.75, "y": 0.5})
    assert report.overall["flip_rate"] == pytest.approx(4 / 6)


def test_compression_identified_exemplars() -> None:
    dense = np.array([[0, 1, 2, 1], [0, 1, 2, 2], [0, 1, 1, 1]])  # modal: 0 1 2 1
    compressed = np.array([[0, 2, 2, 1], [0, 2, 1, 1], [1, 1, 0, 1]])  # modal: 0 2 0 (tie -> 0) 1
    assert M.compression_identified_exemplars(dense, compressed).tolist() == [
        False,
        True,
        True,
        False,
    ]
    single = M.compression_identified_exemplars(dense[0], compressed[0])
    assert single.tolist() == (dense[0] != compressed[0]).tolist()
