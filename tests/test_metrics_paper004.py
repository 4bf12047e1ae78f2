"""Paper 004 as written: TCB's less common value from the training labels, BA's sparse cells."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pytest_fairquant import metrics as M
from pytest_fairquant.errors import InputError
from pytest_fairquant.metrics._inputs import MSG_SHAPE
from pytest_fairquant.undefined import Undefined

# Test labels with 1 the more common value (3 of 5), predictions with four 1s.
TEST_Y = [1, 1, 1, 0, 0]
TEST_PRED = [1, 1, 1, 1, 0]
# Training labels where 1 is the less common value (1 of 4).
TRAIN_Y = [1, 0, 0, 0]


def test_tcb_takes_the_less_common_value_from_the_training_labels_when_given() -> None:
    # Decided on the test labels, 0 is less common: N(pred 0) / N(true 0) = 1 / 2.
    assert M.threshold_calibration_bias(TEST_Y, TEST_PRED) == 0.5
    # The authors' code decides on the training labels: 1 is less common, 4 / 3.
    assert M.threshold_calibration_bias(TEST_Y, TEST_PRED, train_y_true=TRAIN_Y) == 4 / 3


def test_tcb_details_say_which_labels_decided_the_less_common_value() -> None:
    train = M.threshold_calibration_bias_details(TEST_Y, TEST_PRED, train_y_true=TRAIN_Y)
    test = M.threshold_calibration_bias_details(TEST_Y, TEST_PRED)
    assert (train.value, train.minority, train.source) == (4 / 3, (1,), "train")
    assert (test.value, test.minority, test.source) == (0.5, (0,), "test")
    assert train.notes == (
        "the less common value of each label was decided on the training labels "
        "(train_y_true), as paper 004's code does",
    )
    assert test.notes == (
        "the less common value of each label was decided on the test labels; pass "
        "train_y_true= to decide it on the training labels, as paper 004's code does",
    )
    assert json.loads(json.dumps(train.to_dict())) == {
        "value": 4 / 3,
        "minority": [1],
        "source": "train",
        "notes": list(train.notes),
    }


def test_tcb_counts_a_tie_as_1_less_common_like_the_authors_code() -> None:
    # paper 004's code: 0 is the less common value only when more than half the labels are 1.
    details = M.threshold_calibration_bias_details(TEST_Y, TEST_PRED, train_y_true=[1, 0])
    assert details.minority == (1,) and details.value == 4 / 3
    assert M.threshold_calibration_bias([1, 0, 1, 0], [1, 1, 1, 0]) == 3 / 2


def test_tcb_multilabel_decides_each_label_on_its_training_column() -> None:
    y_true = np.stack([TEST_Y, TEST_Y], axis=1)
    y_pred = np.stack([TEST_PRED, TEST_PRED], axis=1)
    train = np.stack([TRAIN_Y, [1, 1, 1, 0]], axis=1)
    details = M.threshold_calibration_bias_details(y_true, y_pred, train_y_true=train)
    assert details.minority == (1, 0)
    assert details.value == (4 / 3, 0.5)
    assert details.to_dict()["value"] == [4 / 3, 0.5]


def test_tcb_is_undefined_when_the_test_set_lacks_the_training_minority() -> None:
    value = M.threshold_calibration_bias([0, 0, 0], [1, 0, 0], train_y_true=[1, 0, 0])
    assert isinstance(value, Undefined) and value.reason == "no_positives"
    assert value.detail == "no sample has label 1; TCB divides by their count"
    details = M.threshold_calibration_bias_details([0, 0, 0], [1, 0, 0], train_y_true=[1, 0, 0])
    assert details.to_dict()["value"] is None


def test_tcb_refuses_training_labels_with_other_labels() -> None:
    with pytest.raises(InputError) as info:
        M.threshold_calibration_bias(
            np.stack([TEST_Y, TEST_Y], axis=1),
            np.stack([TEST_PRED, TEST_PRED], axis=1),
            train_y_true=TRAIN_Y,
        )
    assert str(info.value) == MSG_SHAPE.format(name="train_y_true", got=(4, 1), want=(5, 2))


def _ba_with_few_negatives() -> float:
    """I=1: 100 samples, 40 positive; I=0: 25 samples, 20 positive and only 5 negative."""
    identity = np.r_[np.ones(100), np.zeros(25)].astype(int)
    y_true = np.r_[np.ones(40), np.zeros(60), np.ones(20), np.zeros(5)].astype(int)
    y_pred = np.r_[np.ones(45), np.zeros(55), np.ones(12), np.zeros(13)].astype(int)
    train_identity = np.r_[np.ones(10), np.zeros(10)].astype(int)
    train_y = np.r_[np.ones(4), np.zeros(6), np.ones(2), np.zeros(8)].astype(int)
    return M.bias_amplification(  # type: ignore[return-value]
        y_true,
        y_pred,
        sensitive_features=identity,
        train_y_true=train_y,
        train_sensitive_features=train_identity,
    )


def test_ba_is_undefined_when_an_identity_label_cell_has_fewer_than_10_samples() -> None:
    # Both identities have >= 10 positives (the released code's only count check), but I=0 has
    # 5 negatives: paper 004's text leaves BA out when any combination occurs < 10 times.
    value = _ba_with_few_negatives()
    assert isinstance(value, Undefined) and math.isnan(value) and value != 0
    assert value.reason == "too_few_samples"
    assert value.detail == (
        "identity '0' has 5 test samples with label 0; BA needs 10 in every identity x label "
        "cell (paper 004, sec. 2.2)"
    )
