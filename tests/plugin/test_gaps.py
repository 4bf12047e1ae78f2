"""Every gap the gates accept, attributes of a split with a correction across them, retrieval skew."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_fairquant import DemographicSplit
from pytest_fairquant.gate import (
    MSG_RETRIEVAL_ONLY,
    FairnessAssertionError,
    assert_fvo_below,
    assert_no_bias_amplification,
)
from pytest_fairquant.predictions import Predictions


def _labels(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    pred = np.where(rng.random(n) < 0.85, y, 1 - y)
    groups = np.where(rng.random(n) < 0.5, "f", "m")
    return y, pred, groups


@pytest.mark.parametrize(
    "gap", ["fvo", "equalized_odds", "tpr", "fpr", "demographic_parity", "accuracy_drop"]
)
def test_identical_models_pass_every_gap(gap: str) -> None:
    # 6,000 unchanged samples per group (about 3,000 per class) rule out a change of 0.02.
    y, pred, groups = _labels(n=12_000)
    comparison = assert_no_bias_amplification(
        y_true=y,
        base_pred=pred,
        compressed_pred=pred,
        sensitive_features=groups,
        gap=gap,
        tolerance=0.02,
        n_boot=200,
    )
    assert comparison.verdict == "pass"
    assert comparison.gap == gap


def test_bias_amplification_gap_takes_the_training_labels() -> None:
    rng = np.random.default_rng(1)
    groups = np.where(rng.random(2000) < 0.5, "f", "m")
    # BA needs a training set where the groups' positive rates differ (paper 004's filter).
    y = (rng.random(2000) < np.where(groups == "f", 0.7, 0.3)).astype(np.int64)
    pred = np.where(rng.random(2000) < 0.85, y, 1 - y)
    comparison = assert_no_bias_amplification(
        y_true=y,
        base_pred=pred,
        compressed_pred=pred,
        sensitive_features=groups,
        gap="bias_amplification",
        tolerance=0.02,
        n_boot=200,
        train_y_true=y,
        train_sensitive_features=groups,
    )
    assert comparison.verdict == "pass"
    # Without a train gap BA is undefined: an error verdict, which always raises.
    flat_y = rng.integers(0, 2, size=2000)
    with pytest.raises(FairnessAssertionError, match="ERROR: bias_amplification gap on 'group'"):
        assert_no_bias_amplification(
            y_true=flat_y,
            base_pred=flat_y,
            compressed_pred=flat_y,
            sensitive_features=groups,
            gap="bias_amplification",
            train_y_true=flat_y,
            train_sensitive_features=groups,
        )


def test_every_attribute_of_a_split_is_tested_when_none_is_named() -> None:
    y, pred, groups = _labels(n=6000)
    split = DemographicSplit(
        y, {"gender": groups, "age": np.where(np.arange(len(y)) % 3, "young", "old")}
    )
    worse = pred.copy()
    hit = np.flatnonzero((groups == "f") & (pred == y))[:600]
    worse[hit] = 1 - worse[hit]
    with pytest.raises(FairnessAssertionError) as info:
        assert_no_bias_amplification(
            split=split, base_pred=pred, compressed_pred=worse, tolerance=0.02, n_boot=200
        )
    by_attribute = {c.attribute: c.verdict for c in info.value.comparisons}
    assert by_attribute["gender"] == "fail"
    assert set(by_attribute) == {"gender", "age"}
    passing = assert_no_bias_amplification(
        split=split, base_pred=pred, compressed_pred=pred, tolerance=0.02, n_boot=200
    )
    assert [c.attribute for c in passing] == ["gender", "age"]


def test_fvo_below_takes_a_split_and_an_attribute() -> None:
    y, pred, groups = _labels()
    split = DemographicSplit(y, {"gender": groups})
    comparison = assert_fvo_below(
        y_pred=pred, split=split, attribute="gender", threshold=0.2, n_boot=200
    )
    assert comparison.verdict == "pass"
    assert comparison.attribute == "gender"


def _retrieval(scores: np.ndarray, method: str) -> Predictions:
    return Predictions(scores, None, None, "retrieval", "retrieval", method, method, "split")


def test_retrieval_skew_compares_queries_pairwise() -> None:
    rng = np.random.default_rng(0)
    items, queries = 400, 40
    gender = np.where(np.arange(items) % 2, "f", "m")
    dense = rng.normal(size=(items, queries)).astype(np.float32)
    # The compressed model ranks every "m" item first: MaxSkew@k rises on every query.
    skewed = dense + np.where(gender == "m", 5.0, 0.0)[:, None].astype(np.float32)
    # A little noise reorders a few items per query: no systematic change in skew.
    noisy = dense + rng.normal(scale=0.05, size=dense.shape).astype(np.float32)
    same = assert_no_bias_amplification(
        _retrieval(dense, "dense"),
        _retrieval(noisy, "q"),
        sensitive_features=gender,
        y_true=np.zeros(items, dtype=np.int64),
        gap="max_skew",
        k=20,
        tolerance=0.05,
    )
    assert same.verdict == "pass"
    with pytest.raises(FairnessAssertionError) as info:
        assert_no_bias_amplification(
            _retrieval(dense, "dense"),
            _retrieval(skewed, "q"),
            sensitive_features=gender,
            y_true=np.zeros(items, dtype=np.int64),
            gap="max_skew",
            k=20,
            tolerance=0.05,
        )
    assert info.value.comparison.verdict == "fail"


def test_a_retrieval_model_whose_ranking_went_flat_fails_even_if_its_skew_shrinks() -> None:
    rng = np.random.default_rng(1)
    items, queries = 400, 40
    gender = np.where(np.arange(items) % 2, "f", "m")
    # The dense model over-retrieves "m" a little; the compressed one ranks at random, so its
    # top k mirror the data (skew shrinks) and keep almost none of the dense top k.
    dense = rng.normal(size=(items, queries)) + np.where(gender == "m", 0.5, 0.0)[:, None]
    flat = rng.normal(size=(items, queries))
    with pytest.raises(FairnessAssertionError) as info:
        assert_no_bias_amplification(
            _retrieval(dense, "dense"),
            _retrieval(flat, "q"),
            sensitive_features=gender,
            y_true=np.zeros(items, dtype=np.int64),
            gap="max_skew",
            k=20,
            tolerance=0.05,
        )
    comparison = info.value.comparison
    assert comparison.delta < 0  # the gap alone would not fail
    assert comparison.verdict == "fail" and comparison.utility.status == "collapsed"
    assert comparison.utility.metric == "overlap@20"
    assert "compression collapsed the model: overall lost 0.9" in comparison.reasons[0]


def test_skew_reference_comes_from_the_keyword_or_the_setting() -> None:
    rng = np.random.default_rng(2)
    items, queries = 300, 30
    gender = np.where(np.arange(items) % 3, "f", "m")  # a prior of 1/3 "m"
    dense = rng.normal(size=(items, queries))
    noisy = dense + rng.normal(scale=0.01, size=dense.shape)
    common = dict(
        sensitive_features=gender, y_true=np.zeros(items, dtype=np.int64), gap="max_skew", k=30,
        tolerance=0.05,
    )
    prior = assert_no_bias_amplification(_retrieval(dense, "d"), _retrieval(noisy, "q"), **common)
    equal = assert_no_bias_amplification(
        _retrieval(dense, "d"), _retrieval(noisy, "q"), skew_reference="equal", **common
    )
    # Against equal shares a random ranking over-retrieves "f" (2/3 of the items): ln(4/3).
    assert equal.base_gap > prior.base_gap + 0.1


def test_skew_gaps_need_retrieval_outputs() -> None:
    y, pred, groups = _labels()
    with pytest.raises(ValueError) as info:
        assert_no_bias_amplification(
            y_true=y,
            base_pred=pred,
            compressed_pred=pred,
            sensitive_features=groups,
            gap="min_skew",
        )
    assert str(info.value) == MSG_RETRIEVAL_ONLY.format(gap="min_skew", kind="label arrays")
