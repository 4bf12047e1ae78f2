"""Every metric that fairlearn (or scikit-learn) also computes agrees with it to 1e-12."""

from __future__ import annotations

from typing import Any

import fairlearn.metrics as fm
import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from pytest_fairquant import metrics as M

TOL = 1e-12
N = 3000


def _data(seed: int, n_classes: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, N)
    # predictions that agree with the truth more often in some groups than in others
    groups = rng.choice(np.array(["a", "b", "c", "d"]), N, p=[0.4, 0.3, 0.2, 0.1])
    keep = rng.random(N) < np.where(groups == "a", 0.7, 0.5)
    pred = np.where(keep, y, rng.integers(0, n_classes, N))
    logits = rng.normal(size=(N, n_classes)) + 2.0 * np.eye(n_classes)[y] * keep[:, None]
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return {"y": y, "pred": pred, "groups": groups, "prob": prob, "w": rng.uniform(0.1, 3.0, N)}


def _frame(metric: Any, d: dict[str, Any], weights: Any, y_pred: Any = None) -> fm.MetricFrame:
    return fm.MetricFrame(
        metrics=metric,
        y_true=d["y"],
        y_pred=d["pred"] if y_pred is None else y_pred,
        sensitive_features=d["groups"],
        sample_params=None if weights is None else {"sample_weight": weights},
    )


WEIGHTED = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
METHODS = pytest.mark.parametrize("method", ["between_groups", "to_overall"])


@WEIGHTED
@METHODS
def test_binary_gaps_match_fairlearn(weighted: bool, method: str) -> None:
    d = _data(1, 2)
    w = d["w"] if weighted else None
    kw: dict[str, Any] = {"sensitive_features": d["groups"], "sample_weight": w, "method": method}
    y, p = d["y"], d["pred"]
    pairs = [
        (M.fvo(y, p, **kw), _frame(accuracy_score, d, w).difference(method=method)),
        (M.equalized_odds_difference(y, p, **kw), fm.equalized_odds_difference(y, p, **kw)),
        (
            M.equalized_odds_difference(y, p, agg="mean", **kw),
            fm.equalized_odds_difference(y, p, agg="mean", **kw),
        ),
        (M.demographic_parity_difference(y, p, **kw), fm.demographic_parity_difference(y, p, **kw)),
        (
            M.true_positive_rate_difference(y, p, **kw),
            _frame(fm.true_positive_rate, d, w).difference(method=method),
        ),
        (
            M.equalized_odds_difference(y, p, agg="tpr", **kw),
            _frame(fm.true_positive_rate, d, w).difference(method=method),
        ),
        (
            M.false_positive_rate_difference(y, p, **kw),
            _frame(fm.false_positive_rate, d, w).difference(method=method),
        ),
    ]
    for ours, theirs in pairs:
        assert abs(ours - theirs) <= TOL


@WEIGHTED
def test_disparate_impact_is_the_ppv_ratio(weighted: bool) -> None:
    d = _data(2, 2)
    w = d["w"] if weighted else None
    ours = M.disparate_impact(d["y"], d["pred"], sensitive_features=d["groups"], sample_weight=w)
    assert abs(ours - _frame(precision_score, d, w).ratio()) <= TOL


@WEIGHTED
@METHODS
def test_report_by_group_overall_and_ratio_match_metricframe(weighted: bool, method: str) -> None:
    d = _data(3, 2)
    w = d["w"] if weighted else None
    p1 = d["prob"][:, 1]
    report = M.group_metrics(
        d["y"],
        d["pred"],
        sensitive_features=d["groups"],
        metrics=("accuracy", "tpr", "fpr", "fnr", "ppv", "selection_rate", "kappa", "auc"),
        y_prob=p1,
        sample_weight=w,
    )
    theirs = {
        "accuracy": _frame(accuracy_score, d, w),
        "tpr": _frame(fm.true_positive_rate, d, w),
        "fpr": _frame(fm.false_positive_rate, d, w),
        "fnr": _frame(fm.false_negative_rate, d, w),
        "ppv": _frame(precision_score, d, w),
        "selection_rate": _frame(fm.selection_rate, d, w),
        "kappa": _frame(cohen_kappa_score, d, w),
        "auc": _frame(roc_auc_score, d, w, y_pred=p1),
    }
    for name, frame in theirs.items():
        for group, value in frame.by_group.items():
            assert abs(report.by_group[name][group] - value) <= TOL, (name, group)
        assert abs(report.overall[name] - frame.overall) <= TOL, name
        assert abs(report.difference(name, method) - frame.difference(method=method)) <= TOL, name
        assert abs(report.ratio(name, method) - frame.ratio(method=method)) <= TOL, name
        assert abs(report.group_min(name) - frame.group_min()) <= TOL
        assert abs(report.group_max(name) - frame.group_max()) <= TOL


@WEIGHTED
def test_multiclass_macro_rates_match_sklearn(weighted: bool) -> None:
    d = _data(4, 5)
    w = d["w"] if weighted else None
    labels = list(range(5))
    report = M.group_metrics(
        d["y"],
        d["pred"],
        sensitive_features=d["groups"],
        metrics=("accuracy", "tpr", "ppv", "kappa", "auc"),
        y_prob=d["prob"],
        sample_weight=w,
    )
    assert report.metadata["average"] == "macro"
    theirs = {
        "accuracy": accuracy_score,
        "tpr": lambda t, p, **kw: recall_score(
            t, p, labels=labels, average="macro", zero_division=np.nan, **kw
        ),
        "ppv": lambda t, p, **kw: precision_score(
            t, p, labels=labels, average="macro", zero_division=np.nan, **kw
        ),
        "kappa": cohen_kappa_score,
    }
    for name, metric in theirs.items():
        frame = _frame(metric, d, w)
        for group, value in frame.by_group.items():
            assert abs(report.by_group[name][group] - value) <= TOL, (name, group)
    auc = _frame(
        lambda t, p, **kw: roc_auc_score(
            t, p, multi_class="ovr", average="macro", labels=labels, **kw
        ),
        d,
        w,
        y_pred=d["prob"],
    )
    for group, value in auc.by_group.items():
        assert abs(report.by_group["auc"][group] - value) <= TOL
    assert (
        abs(
            M.fvo(d["y"], d["pred"], sensitive_features=d["groups"], sample_weight=w)
            - _frame(accuracy_score, d, w).difference()
        )
        <= TOL
    )
    assert (
        abs(
            M.true_positive_rate_difference(
                d["y"], d["pred"], sensitive_features=d["groups"], sample_weight=w
            )
            - _frame(theirs["tpr"], d, w).difference()
        )
        <= TOL
    )


def test_multilabel_gives_one_binary_value_per_label() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, (800, 3))
    p = np.where(rng.random((800, 3)) < 0.7, y, 1 - y)
    g = rng.choice(["x", "y"], 800)
    ours = M.equalized_odds_difference(y, p, sensitive_features=g)
    assert isinstance(ours, tuple) and len(ours) == 3
    for j in range(3):
        assert (
            abs(ours[j] - fm.equalized_odds_difference(y[:, j], p[:, j], sensitive_features=g))
            <= TOL
        )
    report = M.group_metrics(
        y, p, sensitive_features=g, metrics=("tpr",), label_names=["smile", "hat", "glasses"]
    )
    assert report.metrics == ("tpr[smile]", "tpr[hat]", "tpr[glasses]")
    frame = fm.MetricFrame(
        metrics=fm.true_positive_rate, y_true=y[:, 1], y_pred=p[:, 1], sensitive_features=g
    )
    for group, value in frame.by_group.items():
        assert abs(report.by_group["tpr[hat]"][group] - value) <= TOL


def test_torch_tensors_and_lists_are_accepted() -> None:
    torch = pytest.importorskip("torch")
    d = _data(6, 2)
    expected = M.fvo(d["y"], d["pred"], sensitive_features=d["groups"])
    as_tensor = M.fvo(
        torch.tensor(d["y"]), torch.tensor(d["pred"]), sensitive_features=list(d["groups"])
    )
    assert as_tensor == expected


@pytest.mark.gpu
def test_cuda_tensors_are_accepted() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    d = _data(7, 3)
    cuda = {k: torch.tensor(d[k], device="cuda") for k in ("y", "pred", "prob")}
    expected = M.group_metrics(
        d["y"],
        d["pred"],
        sensitive_features=d["groups"],
        metrics=("accuracy", "tpr", "auc"),
        y_prob=d["prob"],
    )
    report = M.group_metrics(
        cuda["y"],
        cuda["pred"],
        sensitive_features=d["groups"],
        metrics=("accuracy", "tpr", "auc"),
        y_prob=cuda["prob"],
    )
    assert report.to_dict() == expected.to_dict()
