"""GroupReport behaviour, undefined values with reasons, and the systematic-bias metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pytest_fairquant import metrics as M
from pytest_fairquant.data.split import GroupIndex
from pytest_fairquant.undefined import REASONS, Undefined

Y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 1])
P = np.array([1, 0, 0, 1, 1, 1, 0, 0, 1, 0])
G = np.array(["a", "a", "a", "a", "b", "b", "b", "c", "c", "c"])


def test_report_values_by_hand() -> None:
    report = M.group_metrics(
        Y, P, sensitive_features=G, metrics=("accuracy", "tpr", "fpr", "selection_rate")
    )
    assert report.metrics == ("accuracy", "tpr", "fpr", "selection_rate")
    assert report.n == {"a": 4, "b": 3, "c": 3}
    assert report.by_group["accuracy"] == pytest.approx({"a": 0.5, "b": 2 / 3, "c": 2 / 3})
    assert report.by_group["tpr"] == pytest.approx({"a": 0.5, "b": 1.0, "c": 0.5})
    assert report.overall["accuracy"] == pytest.approx(0.6)
    assert report.difference() == pytest.approx(1 / 6)  # metric=None: the first metric
    assert report.difference("tpr") == pytest.approx(0.5)
    assert report.difference("tpr", method="to_overall") == pytest.approx(1.0 - 0.6)
    assert report.ratio("tpr") == pytest.approx(0.5)
    assert report.group_min("tpr") == 0.5 and report.group_max("tpr") == 1.0


def test_undefined_values_carry_reasons_and_never_equal_zero() -> None:
    # group c has no positives and no predicted positives
    y = np.array([1, 0, 1, 0, 0, 0])
    p = np.array([1, 1, 0, 0, 0, 0])
    g = np.array(["a", "a", "b", "b", "c", "c"])
    report = M.group_metrics(y, p, sensitive_features=g, metrics=("tpr", "fpr", "ppv"))
    tpr_c = report.by_group["tpr"]["c"]
    assert isinstance(tpr_c, Undefined) and tpr_c.reason == "no_positives" and tpr_c != 0
    assert report.reasons["tpr"] == {"c": "no_positives"}
    assert report.reasons["ppv"] == {"b": "zero_denominator", "c": "zero_denominator"}
    gap = report.difference("tpr")
    assert isinstance(gap, Undefined) and gap.reason == "no_positives" and "'c'" in gap.detail
    assert isinstance(report.group_min("tpr"), Undefined)
    assert not isinstance(report.difference("fpr"), Undefined)
    gap_fn = M.true_positive_rate_difference(y, p, sensitive_features=g)
    assert isinstance(gap_fn, Undefined) and gap_fn.reason == "no_positives"


def test_empty_group_of_a_group_index() -> None:
    index = GroupIndex("sex", np.array([0, 0, 1, 1]), ("f", "m", "x"))
    report = M.group_metrics(
        [0, 1, 1, 0], [0, 1, 0, 0], sensitive_features=index, metrics=("accuracy",)
    )
    assert report.attribute == "sex" and report.n["x"] == 0
    assert report.by_group["accuracy"]["x"].reason == "empty_group"


def test_single_group_report_summaries_are_undefined() -> None:
    report = M.group_metrics(Y, P, sensitive_features=["all"] * 10, metrics=("accuracy",))
    assert report.difference().reason == "single_group"
    assert report.ratio().reason == "single_group"


def test_to_dict_is_json_with_null_and_reason() -> None:
    y = np.array([1, 0, 1, 0, 0, 0])
    p = np.array([1, 1, 0, 0, 0, 0])
    g = np.array([1, 1, 2, 2, 3, 3])
    report = M.group_metrics(
        y, p, sensitive_features=g, metrics=("tpr", "accuracy"), attribute="age"
    )
    report = report.with_intervals({"accuracy": {"1": (0.1, 0.9)}})
    text = json.dumps(report.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["attribute"] == "age"
    assert data["by_group"]["tpr"]["3"] is None
    assert data["reasons"]["tpr"]["3"]["reason"] == "no_positives"
    assert data["intervals"] == {"accuracy": {"1": [0.1, 0.9]}}
    assert data["n"] == {"1": 2, "2": 2, "3": 2}
    assert report.intervals is not None and report.intervals["accuracy"]["1"] == (0.1, 0.9)


def test_intersections_of_several_attributes() -> None:
    features = np.array(
        [["f", "young"], ["f", "old"], ["m", "young"], ["m", "young"]], dtype=object
    )
    report = M.group_metrics(
        [0, 1, 1, 0], [0, 1, 0, 0], sensitive_features=features, metrics=("accuracy",)
    )
    assert set(report.n) == {"f×young", "f×old", "m×young"}


def test_flip_rate_in_a_report() -> None:
    base = P.copy()
    base[[0, 4]] = 1 - base[[0, 4]]
    report = M.group_metrics(Y, P, sensitive_features=G, metrics=("flip_rate",), base_pred=base)
    assert report.by_group["flip_rate"] == pytest.approx({"a": 0.25, "b": 1 / 3, "c": 0.0})


def _ece_loop(correct: np.ndarray, conf: np.ndarray, n_bins: int = 10) -> float:
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf >= lo) & ((conf < hi) | ((b == n_bins - 1) & (conf <= hi)))
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return total


def test_ece_binary_and_multiclass_follow_the_stated_bins() -> None:
    rng = np.random.default_rng(7)
    p = np.r_[rng.random(500), [0.0, 0.3, 0.7, 1.0, 0.9, 0.1]]
    y = (rng.random(len(p)) < p).astype(int)
    assert M.expected_calibration_error(y, p) == pytest.approx(
        _ece_loop((y == 1).astype(float), p), abs=1e-12
    )
    probs = rng.dirichlet(np.ones(4), 600)
    labels = rng.integers(0, 4, 600)
    expected = _ece_loop((probs.argmax(1) == labels).astype(float), probs.max(1))
    assert M.expected_calibration_error(labels, probs) == pytest.approx(expected, abs=1e-12)
    # p = 1.0 is in the last bin: a perfectly confident, correct sample has zero error
    assert M.expected_calibration_error([1, 0], [1.0, 0.0]) == 0.0
    assert M.expected_calibration_error([[1, 0], [0, 1]], [[1.0, 0.0], [0.0, 1.0]]) == (0.0, 0.0)


def test_uncertainty_excludes_the_bounds() -> None:
    assert M.uncertainty([0.1, 0.5, 0.9, 0.95]) == 0.25
    assert M.uncertainty(np.array([[0.5, 0.3, 0.2], [0.95, 0.05, 0.0]])) == 0.5
    assert M.uncertainty(np.array([[0.5, 0.95], [0.2, 0.05]]), multilabel=True) == (1.0, 0.0)


def test_threshold_calibration_bias() -> None:
    # positives are the minority: N(pred 1) / N(true 1) = 3 / 2
    assert M.threshold_calibration_bias([1, 1, 0, 0, 0], [1, 1, 1, 0, 0]) == 1.5
    # positives the majority: N(pred 0) / N(true 0) = 1 / 2
    assert M.threshold_calibration_bias([1, 1, 1, 0, 0], [1, 1, 1, 1, 0]) == 0.5
    none = M.threshold_calibration_bias([0, 0, 0], [1, 0, 0])
    assert isinstance(none, Undefined) and none.reason == "no_positives"


def test_label_interrelation() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, 300)
    b = rng.integers(0, 2, 300)
    pred = np.stack([a, b, a, np.zeros(300, int)], axis=1)
    r2 = M.label_interrelation(pred)
    assert r2[0] == pytest.approx(1.0) and r2[2] == pytest.approx(1.0)
    assert 0.0 <= r2[1] < 0.05
    assert isinstance(r2[3], Undefined) and r2[3].reason == "zero_denominator"
    probs = np.stack([a * 0.8 + 0.1, 1.0 - (a * 0.8 + 0.1), rng.random(300)], axis=1)
    assert M.label_interrelation(probs)[1] == pytest.approx(1.0)  # outputs, not only labels


def test_recall_disparity_facet_protocol() -> None:
    # classes 0 and 1 have 30 samples per group; class 2 only 10 in group b
    rng = np.random.default_rng(9)
    y = np.r_[np.repeat([0, 1, 2], 30), np.repeat([0, 1, 2], [30, 30, 10])]
    g = np.r_[["a"] * 90, ["b"] * 70]
    p = y.copy()
    p[rng.choice(np.flatnonzero((g == "b") & (y == 0)), 6, replace=False)] = 2  # recall_0(b) = 0.8
    p[rng.choice(np.flatnonzero((g == "a") & (y == 1)), 3, replace=False)] = 0  # recall_1(a) = 0.9
    result = M.recall_disparity(y, p, sensitive_features=g, groups=("a", "b"))
    assert result.excluded_classes == (2,)
    assert result.per_class == pytest.approx({0: 0.2, 1: -0.1})
    assert (result.min, result.min_class, result.max, result.max_class) == pytest.approx(
        (-0.1, 1, 0.2, 0)
    )
    assert json.dumps(result.to_dict())
    swapped = M.recall_disparity(y, p, sensitive_features=g, groups=("b", "a"))
    assert swapped.max == pytest.approx(0.1)
    none = M.recall_disparity(y, p, sensitive_features=g, min_group_count=31)
    assert none.min.reason == "no_eligible_classes" and none.to_dict()["max"] is None


def test_overall_accuracy() -> None:
    assert M.overall_accuracy(Y, P) == pytest.approx(0.6)


def test_every_reason_code_is_registered() -> None:
    produced = {
        "empty_group",
        "no_positives",
        "no_negatives",
        "zero_denominator",
        "single_group",
        "single_class",
    }
    produced |= {"ba_too_few_positives", "ba_small_train_gap", "ba_no_predicted_positives"}
    produced |= {"no_eligible_classes", "all_classes_excluded"}
    assert produced <= REASONS
    auc = M.group_metrics(
        [1, 1, 0, 0],
        [1, 1, 0, 0],
        sensitive_features=["a", "a", "b", "b"],
        metrics=("auc",),
        y_prob=[0.9, 0.8, 0.1, 0.2],
    )
    assert auc.by_group["auc"]["a"].reason == "single_class" and math.isnan(
        auc.by_group["auc"]["b"]
    )
    assert auc.overall["auc"] == 1.0
