"""What the gates accept: models, Predictions or arrays, and the messages for everything else."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_fairquant.gate import (
    MSG_ARRAYS,
    MSG_MIXED,
    MSG_NO_SPLIT,
    assert_no_bias_amplification,
)
from pytest_fairquant.predictions import Predictions

# 1,000 unchanged samples per group rule out a change of 0.02 (100 would not: see
# test_stats_compare's zero-flip tests).
Y = np.array([0, 1] * 1000)
GROUPS = np.array(["a"] * 1000 + ["b"] * 1000)


def _predictions(pred: np.ndarray) -> Predictions:
    return Predictions(
        np.zeros((len(pred), 2), np.float32), pred, None, "binary", "t", "m", "f", "s"
    )


def test_predictions_with_arrays_for_truth_and_groups() -> None:
    comparison = assert_no_bias_amplification(
        _predictions(Y), _predictions(Y), y_true=Y, sensitive_features=GROUPS, n_boot=100
    )
    assert comparison.verdict == "pass"


def test_a_model_needs_a_split() -> None:
    with pytest.raises(ValueError) as info:
        assert_no_bias_amplification(object(), object())
    assert str(info.value) == MSG_NO_SPLIT.format(name="base")


def test_array_form_names_what_is_missing() -> None:
    with pytest.raises(ValueError) as info:
        assert_no_bias_amplification(y_true=Y, base_pred=Y, sensitive_features=GROUPS)
    assert str(info.value) == MSG_ARRAYS.format(
        preds="base_pred=, compressed_pred=", missing=["compressed_pred"]
    )


def test_models_and_prediction_arrays_do_not_mix() -> None:
    with pytest.raises(ValueError) as info:
        assert_no_bias_amplification(_predictions(Y), _predictions(Y), base_pred=Y)
    assert str(info.value) == MSG_MIXED


def test_predictions_must_come_from_the_split_passed() -> None:
    from pytest_fairquant import DemographicSplit
    from pytest_fairquant.gate import MSG_OTHER_SPLIT

    split = DemographicSplit(Y, {"group": GROUPS})
    with pytest.raises(ValueError) as info:
        assert_no_bias_amplification(_predictions(Y), _predictions(Y), split)
    assert str(info.value) == MSG_OTHER_SPLIT.format(name="base", method="m")
