"""Fairness gates of the arrests MLP: FVO, equalized odds and demographic parity by colour.

Each test runs once per configured method; ``conftest.py`` marks the method × test pairs that
genuinely fail on this model as expected failures (see README.md for the numbers).
"""

from __future__ import annotations

import pytest

from pytest_fairquant import assert_fvo_below, assert_no_bias_amplification

GAPS = ["fvo", "equalized_odds", "demographic_parity"]
#: The largest acceptable growth of a gap, and of any group's accuracy drop (3 points). On 503
#: Black and 1,590 White arrestees the int8 methods' upper 95% bounds are 0.012-0.022 (FVO),
#: 0.013-0.024 (demographic parity) and 0.008-0.012 (accuracy drop): all decided.
TOLERANCE = 0.03
#: Equalized odds is also the false positive rate, over the arrestees not released: 148 Black
#: and 217 White. So its upper 95% bound of the change is 0.064-0.085 under int8 although the
#: gap moves by under 0.01; at 0.03 the gate answers inconclusive ("about 2,430-7,685 samples
#: would decide it"), at 0.05 too (1,273-2,305). 0.10 is what this test set can show.
TOLERANCES = {"fvo": TOLERANCE, "demographic_parity": TOLERANCE, "equalized_odds": 0.10}


@pytest.mark.parametrize("gap", GAPS)
def test_quantization_keeps_gaps(model, quantized_model, demographic_split, gap):
    assert_no_bias_amplification(
        model,
        quantized_model,
        demographic_split,
        attribute="colour",
        gap=gap,
        tolerance=TOLERANCES[gap],
    )


@pytest.mark.parametrize("gap", GAPS)
def test_pruning_keeps_gaps(model, pruned_model, demographic_split, gap):
    assert_no_bias_amplification(
        model,
        pruned_model,
        demographic_split,
        attribute="colour",
        gap=gap,
        tolerance=TOLERANCES[gap],
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
    """Only 153 women in the test set: at a tolerance of 0.03 the gate cannot decide.

    Under int8 0-1 of 153 women's predictions change, yet the upper 95% bound of the FVO change
    is 0.038-0.048 > 0.03 ("about 384-577 samples would decide it"); the undecided verdict is
    an explicit xfail, never a pass, and a significant growth would still fail.
    """
    assert_no_bias_amplification(
        model,
        quantized_model,
        demographic_split,
        attribute="sex",
        gap="fvo",
        tolerance=TOLERANCE,
    )


def test_dense_model_fvo_by_colour(model, demographic_split):
    """The dense model's accuracy gap between Black and White arrestees stays under 0.25.

    Its FVO is 0.135 with an exact upper 95% bound of 0.202: a threshold of 0.2 cannot be shown
    to hold on 503 Black arrestees (inconclusive); 0.25 can.
    """
    assert_fvo_below(model, demographic_split, attribute="colour", threshold=0.25)
