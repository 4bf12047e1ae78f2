"""Fairness gates of the arrests MLP: FVO, equalized odds and demographic parity by colour.

Each test runs once per configured method; ``conftest.py`` marks the method × test pairs that
genuinely fail on this model as expected failures (see README.md for the numbers).
"""

from __future__ import annotations

import pytest

from pytest_fairquant import assert_fvo_below, assert_no_bias_amplification

GAPS = ["fvo", "equalized_odds", "demographic_parity"]
#: The largest acceptable growth of each gap, and of any group's accuracy drop (3 points).
TOLERANCE = 0.03


@pytest.mark.parametrize("gap", GAPS)
def test_quantization_keeps_gaps(model, quantized_model, demographic_split, gap):
    assert_no_bias_amplification(
        model,
        quantized_model,
        demographic_split,
        attribute="colour",
        gap=gap,
        tolerance=TOLERANCE,
    )


@pytest.mark.parametrize("gap", GAPS)
def test_pruning_keeps_gaps(model, pruned_model, demographic_split, gap):
    assert_no_bias_amplification(
        model, pruned_model, demographic_split, attribute="colour", gap=gap, tolerance=TOLERANCE
    )


def test_quantization_costs_no_group_accuracy(model, quantized_model, demographic_split):
    assert_no_bias_amplification(
        model,
        quantized_model,
        demographic_split,
        attribute="colour",
        gap="accuracy_drop",
        tolerance=TOLERANCE,
    )


def test_pruning_costs_no_group_accuracy(model, pruned_model, demographic_split):
    assert_no_bias_amplification(
        model,
        pruned_model,
        demographic_split,
        attribute="colour",
        gap="accuracy_drop",
        tolerance=TOLERANCE,
    )


@pytest.mark.fairquant(inconclusive="xfail")
def test_sex_gap_where_the_data_can_tell(model, quantized_model, demographic_split):
    """Only 153 women in the test set (25 held): where that cannot decide, say so (xfail)."""
    assert_no_bias_amplification(
        model,
        quantized_model,
        demographic_split,
        attribute="sex",
        gap="fvo",
        tolerance=TOLERANCE,
    )


def test_dense_model_fvo_by_colour(model, demographic_split):
    """The dense model's accuracy gap between Black and White arrestees stays under 0.2."""
    assert_fvo_below(model, demographic_split, attribute="colour", threshold=0.2)
