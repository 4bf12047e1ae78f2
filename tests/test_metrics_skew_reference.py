"""Paper 000's skew reference: the dataset prior by default, and no sign flip for absent values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pytest_fairquant import metrics as M
from pytest_fairquant.gate import GateContext, assert_no_bias_amplification, gate_context
from pytest_fairquant.predictions import Predictions
from pytest_fairquant.settings import Settings
from pytest_fairquant.stats import Comparison

#: FairFace validation images per paper 000 age group (younger 0-19, middle 20-49, older 50+).
FAIRFACE_VAL_AGES = {
    "younger": 199 + 1356 + 1181,
    "middle": 3300 + 2330 + 1353,
    "older": 796 + 321 + 118,
}


def test_a_fair_random_ranking_scores_near_zero_against_the_dataset_prior() -> None:
    ages = np.repeat(list(FAIRFACE_VAL_AGES), list(FAIRFACE_VAL_AGES.values()))
    scores = np.random.default_rng(0).normal(size=(20, len(ages)))  # 20 queries, no preference
    default = M.skew_details(scores, sensitive_features=ages, k=1000)
    equal = M.skew_details(scores, sensitive_features=ages, k=1000, reference="equal")
    assert default.reference == "prior"
    assert default.desired.tolist() == pytest.approx([0.6375, 0.1127, 0.2498], abs=1e-4)
    # Against the prior a ranking that ignores age is fair up to sampling noise of 1,000 draws;
    # against equal shares it reads as a strong skew, ln(0.6375 * 3) = 0.648 for "middle".
    assert default.max_skew == pytest.approx(0.044, abs=1e-3)
    assert default.min_skew == pytest.approx(-0.063, abs=1e-3)
    assert equal.max_skew == pytest.approx(0.656, abs=1e-3)
    assert equal.max_skew == pytest.approx(math.log(0.6375 * 3), abs=0.02)
    assert M.max_skew(scores, sensitive_features=ages, k=1000) == default.max_skew
    assert M.min_skew(scores, sensitive_features=ages, k=1000) == default.min_skew


def test_a_top_k_that_mirrors_the_data_has_zero_skew_against_the_prior() -> None:
    values = np.repeat(np.arange(3), [500, 300, 200])
    # Ranked so that the top 100 hold exactly 50 / 30 / 20 items of the three values.
    first = np.concatenate([np.arange(50), 500 + np.arange(30), 800 + np.arange(20)])
    scores = np.zeros((1, 1000))
    scores[0, first] = 1.0
    details = M.skew_details(scores, sensitive_features=values, k=100)
    assert details.max_skew == pytest.approx(0.0, abs=1e-12)
    assert details.min_skew == pytest.approx(0.0, abs=1e-12)
    equal = M.skew_details(scores, sensitive_features=values, k=100, reference="equal")
    assert equal.max_skew == pytest.approx(math.log(0.5 / (1 / 3)))


@pytest.mark.parametrize("reference", ["prior", "equal"])
def test_a_value_absent_from_the_top_k_never_gets_a_positive_skew(reference: str) -> None:
    # k = 5 and 7 equal groups: 1/k = 0.2 exceeds the desired share 1/7, so substituting 1/k
    # for the zero share gave MinSkew +0.336 to values that were not retrieved at all.
    values = np.repeat(np.arange(7), 10)
    scores = -np.arange(70, dtype=float)[None, :]  # top 5 are all value 0
    details = M.skew_details(scores, sensitive_features=values, k=5, reference=reference)
    absent = details.skew[0, 1:]
    assert (absent < 0).all()
    assert details.min_skew < 0
    assert details.max_skew == pytest.approx(math.log(1.0 / (1 / 7)))
    assert any("below the desired share" in note for note in details.notes)


def _retrieval(scores: np.ndarray, method: str) -> Predictions:
    return Predictions(scores, None, None, "retrieval", "retrieval", method, method, "split")


def test_the_gate_takes_the_reference_from_the_keyword_else_the_active_settings() -> None:
    rng = np.random.default_rng(3)
    items, queries = 300, 30
    gender = np.where(np.arange(items) % 3, "f", "m")  # prior: 2/3 "f", 1/3 "m"
    dense = rng.normal(size=(items, queries))
    noisy = dense + rng.normal(scale=0.01, size=dense.shape)

    def gate(**options: Any) -> Comparison:
        result = assert_no_bias_amplification(
            _retrieval(dense, "dense"),
            _retrieval(noisy, "q"),
            sensitive_features=gender,
            y_true=np.zeros(items, dtype=np.int64),
            gap="max_skew",
            k=30,
            tolerance=0.05,
            **options,
        )
        assert isinstance(result, Comparison)
        return result

    by_query = dense.T
    expected = {
        reference: M.max_skew(by_query, sensitive_features=gender, k=30, reference=reference)
        for reference in ("prior", "equal")
    }
    assert expected["equal"] > expected["prior"] + 0.1  # ln(4/3) of over-retrieved "f"
    assert gate().base_gap == pytest.approx(expected["prior"])
    assert gate(skew_reference="equal").base_gap == pytest.approx(expected["equal"])
    with gate_context(GateContext(settings=Settings(skew_reference="equal"))):
        assert gate().base_gap == pytest.approx(expected["equal"])
        assert gate(skew_reference="prior").base_gap == pytest.approx(expected["prior"])
