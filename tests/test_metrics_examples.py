"""The worked examples of METRICS.md, and the published Simon Says CEV/SDE case."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pytest_fairquant import metrics as M
from pytest_fairquant.undefined import Undefined

#: The published Simon Says case, kept in the repository (tests/data/README.md: source, licence).
REFERENCE = Path(__file__).resolve().parent / "data" / "simon_says_cifar100_struct45.npz"


def _ba_example() -> dict[str, np.ndarray]:
    """200 samples, I=1 first; positives 40 | 20 true and 45 | 12 predicted; train rates 0.4 vs 0.2."""
    identity = np.r_[np.ones(100), np.zeros(100)].astype(int)
    y_true = np.zeros(200, int)
    y_true[:40] = 1
    y_true[100:120] = 1
    y_pred = np.zeros(200, int)
    y_pred[:45] = 1
    y_pred[100:112] = 1
    train_identity = np.r_[np.ones(10), np.zeros(10)].astype(int)
    train_y = np.r_[np.ones(4), np.zeros(6), np.ones(2), np.zeros(8)].astype(int)
    return {
        "y_true": y_true,
        "y_pred": y_pred,
        "identity": identity,
        "train_y": train_y,
        "train_identity": train_identity,
    }


def _ba(ex: dict[str, np.ndarray], **change: np.ndarray) -> float:
    ex = {**ex, **change}
    return M.bias_amplification(
        ex["y_true"],
        ex["y_pred"],
        sensitive_features=ex["identity"],
        train_y_true=ex["train_y"],
        train_sensitive_features=ex["train_identity"],
    )


def test_bias_amplification_example() -> None:
    ex = _ba_example()
    assert round(_ba(ex), 6) == 0.122807
    assert _ba(ex) == pytest.approx(45 / 57 - 40 / 60, abs=1e-15)


def test_bias_amplification_direction_follows_training_labels() -> None:
    ex = _ba_example()
    # train rates 0.2 (I=1) vs 0.4 (I=0): the group is I=0, so BA = 12/57 − 20/60
    flipped = np.r_[np.ones(2), np.zeros(8), np.ones(4), np.zeros(6)].astype(int)
    assert _ba(ex, train_y=flipped) == pytest.approx(12 / 57 - 20 / 60, abs=1e-15)


def test_bias_amplification_filters_return_their_reasons() -> None:
    ex = _ba_example()
    few = ex["y_true"].copy()
    few[105:120] = 0  # only 5 positives with I=0
    equal_train = np.r_[np.ones(4), np.zeros(6), np.ones(4), np.zeros(6)].astype(int)
    cases = {
        "ba_too_few_positives": _ba(ex, y_true=few),
        "ba_small_train_gap": _ba(ex, train_y=equal_train),
        "ba_no_predicted_positives": _ba(ex, y_pred=np.zeros(200, int)),
    }
    for reason, value in cases.items():
        assert isinstance(value, Undefined) and value.reason == reason
        assert math.isnan(value) and value != 0


def test_bias_amplification_multilabel_is_per_label() -> None:
    ex = _ba_example()
    both = {
        k: np.stack([v, v], axis=1) for k, v in ex.items() if k in ("y_true", "y_pred", "train_y")
    }
    values = _ba(ex, **both)
    assert isinstance(values, tuple) and len(values) == 2
    assert values[0] == values[1] == _ba(ex)


def _labels_from_confusion(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (true, predicted) labels, grouped by true class, with this confusion matrix."""
    classes = np.arange(confusion.shape[1])
    y_true = np.repeat(classes, confusion.sum(axis=1))
    y_pred = np.concatenate([np.repeat(classes, row) for row in confusion])
    return y_true, y_pred


def test_cev_sde_example() -> None:
    """Dense FPR 0.125 and FNR 0.25 per class; ΔFPR = [100, 100, 50], ΔFNR = [50, 100, 100]."""
    # 16 samples per class: dense FN = 4 and FP = 4 (of 32 negatives) per class; the
    # compressed model has FN 6, 8, 8 (FNR .375, .5, .5) and FP 8, 8, 6 (FPR .25, .25, .1875).
    y_true, dense = _labels_from_confusion(np.array([[12, 2, 2], [2, 12, 2], [2, 2, 12]]))
    same_truth, compressed = _labels_from_confusion(np.array([[10, 4, 2], [4, 8, 4], [4, 4, 8]]))
    assert (same_truth == y_true).all()
    details = M.error_spread_details(y_true, dense, compressed)
    assert np.allclose(details.delta_fpr, [100, 100, 50]) and np.allclose(
        details.delta_fnr, [50, 100, 100]
    )
    assert round(details.cev, 4) == 555.5556
    assert round(details.sde, 4) == 23.5702
    assert M.cev(y_true, dense, compressed) == details.cev
    assert M.sde(y_true, dense, compressed) == details.sde


def test_cev_excludes_classes_with_zero_dense_error_rates() -> None:
    y_true, dense = _labels_from_confusion(np.array([[16, 0, 0], [2, 12, 2], [2, 2, 12]]))
    _, compressed = _labels_from_confusion(np.array([[14, 1, 1], [4, 8, 4], [4, 4, 8]]))
    details = M.error_spread_details(y_true, dense, compressed)
    assert details.excluded_classes == (0,) and details.classes == (1, 2)
    assert "excluded" in details.notes[0]
    perfect = M.error_spread_details(y_true, y_true, compressed)
    assert isinstance(perfect.cev, Undefined) and perfect.cev.reason == "all_classes_excluded"
    assert perfect.to_dict()["cev"] is None


def test_skew_example() -> None:
    labels = [0, 0, 1, 0, 1, 1, 0, 1, 0, 1]
    scores = -np.arange(10.0)  # rank order = index order
    assert M.max_skew(scores, sensitive_features=labels, k=4) == pytest.approx(
        math.log(1.5), abs=1e-15
    )
    assert M.min_skew(scores, sensitive_features=labels, k=4) == pytest.approx(
        math.log(0.5), abs=1e-15
    )


def test_skew_ties_take_exactly_k_by_index() -> None:
    labels = [1, 0, 0, 0, 1, 1]
    scores = np.array([[5.0, 3.0, 3.0, 3.0, 3.0, 1.0]])  # four items tie at the 2nd-4th places
    details = M.skew_details(scores, sensitive_features=labels, k=3)
    # exactly items 0, 1, 2: values {1, 0, 0}
    assert details.skew[0].tolist() == pytest.approx(
        [math.log((2 / 3) / 0.5), math.log((1 / 3) / 0.5)]
    )


def test_skew_substitutes_one_over_k_capped_below_the_desired_share_and_says_so() -> None:
    labels = ["a", "a", "b", "c"]
    scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.0, 0.1, 0.9, 0.8]])
    details = M.skew_details(scores, sensitive_features=labels, k=2, reference="prior")
    assert details.n_substituted == 3  # query 0 misses b and c, query 1 misses a
    assert "1/k" in details.notes[0]
    assert details.desired.tolist() == pytest.approx([0.5, 0.25, 0.25])
    # b and c are absent: 1/k = 0.5 exceeds their desired 0.25 and would read as over-
    # represented (+ln 2); capped at half the desired share, their skew is ln 0.5 < 0.
    assert details.skew[0].tolist() == pytest.approx([math.log(2.0), math.log(0.5), math.log(0.5)])
    assert details.per_query_max.shape == (2,)
    assert details.max_skew == pytest.approx(details.per_query_max.mean())


def _simon_says() -> dict[str, np.ndarray]:
    data = np.load(REFERENCE)
    labels = data["labels"].astype(np.int64)
    order = np.argsort(labels, kind="stable")
    # The students are given as confusion matrices: rebuild per-sample labels grouped by true
    # class (only per-class rates matter, so the order of samples within a class is free).
    students = [_labels_from_confusion(conf) for conf in data["Conf"]]
    assert all((truth == labels[order]).all() for truth, _ in students)
    return {
        "y_true": labels[order],
        "teacher": data["teacher"].astype(np.int64)[order],
        "students": np.stack([pred for _, pred in students]),
        "fp_r": data["FP_r"],
        "fn_r": data["FN_r"],
    }


def test_simon_says_published_cev_sde() -> None:
    ref = _simon_says()
    details = M.error_spread_details(ref["y_true"], ref["teacher"], list(ref["students"]))
    assert details.n_models == 4 and details.excluded_classes == ()
    assert abs(details.cev - 4237.391288) <= 1e-6
    assert abs(details.sde - 51.146442) <= 1e-6


def test_simon_says_student_rates_match_published_per_seed_rates() -> None:
    ref = _simon_says()
    n_models = len(ref["students"])
    codes = np.repeat(np.arange(n_models), len(ref["y_true"]))
    table = M.confusion_tables(
        np.tile(ref["y_true"], n_models), ref["students"].ravel(), codes, n_models, 100
    )
    r = M.rates(table)
    assert np.abs(r["fpr"] - ref["fp_r"]).max() <= 1e-15
    assert np.abs(r["fnr"] - ref["fn_r"]).max() <= 1e-15


def test_topk_indices_give_the_same_skew_as_scores() -> None:
    rng = np.random.default_rng(8)
    scores = rng.normal(size=(6, 50))
    values = rng.choice(["a", "b", "c"], 50)
    from_scores = M.skew_details(scores, sensitive_features=values, k=10, reference="prior")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :12]  # more columns than k are fine
    from_top = M.topk_skew_details(top, sensitive_features=values, k=10, reference="prior")
    assert np.array_equal(from_top.skew, from_scores.skew)
    assert from_top.to_dict() == from_scores.to_dict()
