"""Fairness gates of the digits CNN under every configured quantization and pruning method.

Each test runs once per method (``test_quantization_keeps_fvo[bnb-nf4]``, ...); the pairs that
genuinely fail on this model are expected failures (see conftest.py and README.md).
"""

from __future__ import annotations

import pytest

from pytest_fairquant import assert_fvo_below, assert_no_bias_amplification, group_report

#: The inverted-vs-plain accuracy gap may grow by at most 10 points under compression. A pass
#: needs the upper 95% bound of the FVO change within the tolerance; with 355 inverted and 342
#: plain digits those bounds are 0.023-0.074 for the methods that keep the model working, so 10
#: points is what this test set can decide. At 5 points NF4 (bound 0.051, "about 664 samples
#: would decide it") and 50% sparsity (0.074, about 1,830) are undecided; see the next test.
FVO_TOLERANCE = 0.10
#: The tighter gate that 355 inverted digits cannot decide for 50% sparsity.
TIGHT_FVO_TOLERANCE = 0.05
#: No group may lose more than 5 points of accuracy (the upper 95% bounds of the largest loss
#: are 0.008-0.044 for the methods that keep the model working: all decided).
DROP_TOLERANCE = 0.05


def test_quantization_keeps_fvo(model, quantized_model, demographic_split):
    assert_no_bias_amplification(
        model,
        quantized_model,
        demographic_split,
        attribute="marker",
        gap="fvo",
        tolerance=FVO_TOLERANCE,
    )


def test_pruning_keeps_fvo(model, pruned_model, demographic_split):
    assert_no_bias_amplification(
        model,
        pruned_model,
        demographic_split,
        attribute="marker",
        gap="fvo",
        tolerance=FVO_TOLERANCE,
    )


@pytest.mark.fairquant(methods=["global-magnitude-0.5"], inconclusive="xfail")
def test_half_sparsity_keeps_fvo_within_five_points(model, pruned_model, demographic_split):
    """50% sparsity widens the FVO by 0.025; whether that stays within 5 points is not decided.

    The upper 95% bound of the change is 0.074 > 0.05 and the change is far from significant
    (p = 0.97), so the gate answers inconclusive ("about 1,830 samples would decide it", against
    355 inverted digits). That honest answer is an explicit xfail here, never a pass.
    """
    assert_no_bias_amplification(
        model,
        pruned_model,
        demographic_split,
        attribute="marker",
        gap="fvo",
        tolerance=TIGHT_FVO_TOLERANCE,
    )


def test_quantization_costs_no_group_accuracy(model, quantized_model, demographic_split):
    assert_no_bias_amplification(
        model,
        quantized_model,
        demographic_split,
        attribute="marker",
        gap="accuracy_drop",
        tolerance=DROP_TOLERANCE,
    )


def test_pruning_costs_no_group_accuracy(model, pruned_model, demographic_split):
    assert_no_bias_amplification(
        model,
        pruned_model,
        demographic_split,
        attribute="marker",
        gap="accuracy_drop",
        tolerance=DROP_TOLERANCE,
    )


#: The dense model's FVO is 0.104; with about 350 digits per group its exact upper 95% bound is
#: 0.152, so a threshold of 0.15 cannot be shown to hold (inconclusive); 0.20 can, with room.
DENSE_FVO_THRESHOLD = 0.20


def test_dense_model_is_fair_enough(model, demographic_split):
    """The planted minority already costs the dense model some accuracy; it must stay bounded."""
    assert_fvo_below(model, demographic_split, attribute="marker", threshold=DENSE_FVO_THRESHOLD)


@pytest.mark.fairquant(methods=["torch-dynamic-int8"])
def test_group_metrics_unchanged(quantized_model, demographic_split, fairquant_snapshot):
    """Per-group accuracy with intervals, pinned (create or change with --snapshot-update)."""
    assert group_report(quantized_model, demographic_split) == fairquant_snapshot
