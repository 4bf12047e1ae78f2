"""Fairness gates of the digits CNN under every configured quantization and pruning method.

Each test runs once per method (``test_quantization_keeps_fvo[bnb-nf4]``, ...); the pairs that
genuinely fail on this model are expected failures (see conftest.py and README.md).
"""

from __future__ import annotations

import pytest

from pytest_fairquant import assert_fvo_below, assert_no_bias_amplification, group_report

#: The inverted-vs-plain accuracy gap may grow by at most 10 points under compression. With
#: about 350 digits per group the 95% interval of a change in FVO is roughly ±0.03 to ±0.07
#: wide, so a tolerance of 5 points could rarely be shown to hold: the gate would answer
#: "inconclusive" and say how many more samples it needs.
FVO_TOLERANCE = 0.10
#: No group may lose more than 5 points of accuracy.
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
#: 0.158, so a threshold of 0.15 could not be shown to hold (inconclusive), 0.20 can.
DENSE_FVO_THRESHOLD = 0.20


def test_dense_model_is_fair_enough(model, demographic_split):
    """The planted minority already costs the dense model some accuracy; it must stay bounded."""
    assert_fvo_below(model, demographic_split, attribute="marker", threshold=DENSE_FVO_THRESHOLD)


@pytest.mark.fairquant(methods=["torch-dynamic-int8"])
def test_group_metrics_unchanged(quantized_model, demographic_split, fairquant_snapshot):
    """Per-group accuracy with intervals, pinned (create or change with --snapshot-update)."""
    assert group_report(quantized_model, demographic_split) == fairquant_snapshot
