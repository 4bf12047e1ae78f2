"""Bad inputs answer with a message that names the argument and the fix."""

from __future__ import annotations

import re

import numpy as np
import pytest

from pytest_fairquant import _arrays
from pytest_fairquant import metrics as M
from pytest_fairquant.errors import InputError

Y = np.array([0, 1, 1, 0, 1, 0])
P = np.array([0, 1, 0, 0, 1, 1])
G = np.array(["a", "a", "b", "b", "c", "c"])


def _msg(template: str, **fields: object) -> str:
    return re.escape(template.format(**fields))


def test_mismatched_lengths_name_both_arguments() -> None:
    with pytest.raises(
        InputError, match=_msg(_arrays.MSG_LENGTH, name="y_pred", got=5, ref_name="y_true", want=6)
    ):
        M.fvo(Y, P[:5], sensitive_features=G)
    with pytest.raises(
        InputError,
        match=_msg(_arrays.MSG_LENGTH, name="sensitive_features", got=4, ref_name="y_true", want=6),
    ):
        M.group_metrics(Y, P, sensitive_features=G[:4])


def test_nan_probabilities_say_where() -> None:
    prob = np.array([0.1, 0.2, np.nan, 0.4, 0.5, 0.6])
    with pytest.raises(
        InputError, match=_msg(_arrays.MSG_NONFINITE, name="y_prob", count=1, first=2)
    ):
        M.expected_calibration_error(Y, prob)
    with pytest.raises(
        InputError, match=_msg(_arrays.MSG_NONFINITE, name="y_prob", count=1, first=2)
    ):
        M.group_metrics(Y, P, sensitive_features=G, metrics=("auc",), y_prob=prob)
    with pytest.raises(InputError, match="y_prob contains 1 NaN or infinite"):
        M.uncertainty(np.array([0.2, np.inf]))


def test_label_outside_the_known_classes() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    p = np.array([0, 1, 7, 0, 1, 2])
    with pytest.raises(
        InputError, match=_msg(M.MSG_UNKNOWN_CLASS, name="y_pred", label=7, last=2, need=8)
    ):
        M.fvo(y, p, sensitive_features=G)
    with pytest.raises(InputError, match="pass n_classes=8"):
        M.cev(y, y, p)
    assert M.group_metrics(y, p, sensitive_features=G, n_classes=8).metadata["n_classes"] == 8


def test_negative_labels() -> None:
    with pytest.raises(InputError, match=_msg(M.MSG_NEGATIVE_LABEL, name="y_true", label=-1)):
        M.fvo(np.array([-1, 0, 1]), np.array([0, 0, 1]), sensitive_features=["a", "b", "a"])


def test_single_group_where_a_gap_needs_two() -> None:
    one = np.array(["x"] * 6)
    for gap, name in [
        (M.fvo, "fvo"),
        (M.equalized_odds_difference, "equalized_odds_difference"),
        (M.demographic_parity_difference, "demographic_parity_difference"),
        (M.disparate_impact, "disparate_impact"),
    ]:
        with pytest.raises(InputError, match=_msg(M.MSG_SINGLE_GROUP, group="x", metric=name)):
            gap(Y, P, sensitive_features=one)


def test_empty_input() -> None:
    with pytest.raises(InputError, match=_msg(_arrays.MSG_EMPTY, name="y_true")):
        M.fvo([], [], sensitive_features=[])
    with pytest.raises(InputError, match=_msg(_arrays.MSG_EMPTY, name="scores")):
        M.max_skew(np.zeros((0, 3)), sensitive_features=[0, 1, 2], k=1)


def test_unknown_metric_and_gap_names() -> None:
    known_metrics = ", ".join(M.metric_names())
    with pytest.raises(
        InputError, match=_msg(M.MSG_UNKNOWN_METRIC, name="acc", known=known_metrics)
    ):
        M.group_metrics(Y, P, sensitive_features=G, metrics=("acc",))
    with pytest.raises(
        InputError, match=_msg(M.MSG_UNKNOWN_GAP, name="eo", known=", ".join(M.gap_names()))
    ):
        M.check_gap("eo")
    assert M.check_gap("fvo") == "fvo" and M.check_metric("kappa") == "kappa"
    with pytest.raises(InputError, match=_msg(M.MSG_NO_METRICS, known=known_metrics)):
        M.group_metrics(Y, P, sensitive_features=G, metrics=())


def test_non_integer_predictions_where_labels_are_expected() -> None:
    with pytest.raises(
        InputError,
        match=re.escape(
            "y_pred must hold integer class labels, but holds non-integer values such as 0.7"
        ),
    ):
        M.fvo(Y, np.array([0.7, 0.2, 0.9, 0.1, 0.5, 0.4]), sensitive_features=G)


def test_argument_values_are_checked() -> None:
    with pytest.raises(InputError, match=_msg(M.MSG_AGG, got="max")):
        M.equalized_odds_difference(Y, P, sensitive_features=G, agg="max")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=_msg(M.MSG_METHOD, got="pairwise")):
        M.fvo(Y, P, sensitive_features=G, method="pairwise")  # type: ignore[arg-type]
    with pytest.raises(
        InputError, match=_msg(M.MSG_AVERAGE, known="auto, binary, macro", got="micro")
    ):
        M.group_metrics(Y, P, sensitive_features=G, average="micro")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=_msg(M.MSG_N_BINS, got=0)):
        M.expected_calibration_error(Y, np.full(6, 0.5), n_bins=0)
    with pytest.raises(InputError, match=_msg(M.MSG_WEIGHTS, bad=-1.0, index=1)):
        M.fvo(Y, P, sensitive_features=G, sample_weight=[1, -1, 1, 1, 1, 1])
    with pytest.raises(InputError, match=_msg(M.MSG_NEEDS_PROB, metric="ece", shape="(6,)")):
        M.group_metrics(Y, P, sensitive_features=G, metrics=("ece",))
    with pytest.raises(InputError, match=re.escape(M.MSG_NEEDS_BASE)):
        M.group_metrics(Y, P, sensitive_features=G, metrics=("flip_rate",))
    with pytest.raises(InputError, match=_msg(M.MSG_NOT_IN_REPORT, metric="fpr", known="accuracy")):
        M.group_metrics(Y, P, sensitive_features=G, metrics=("accuracy",)).difference("fpr")


def test_shape_mismatches() -> None:
    with pytest.raises(InputError, match=_msg(M.MSG_SHAPE, name="y_pred", got=(6, 2), want=(6,))):
        M.fvo(Y, np.zeros((6, 2), int), sensitive_features=G)
    with pytest.raises(
        InputError, match=_msg(M.MSG_SHAPE, name="y_prob", got=(6, 3), want="(6, 2)")
    ):
        M.group_metrics(Y, P, sensitive_features=G, metrics=("auc",), y_prob=np.full((6, 3), 1 / 3))
    with pytest.raises(InputError, match="y_prob must hold probabilities in"):
        M.expected_calibration_error(Y, np.full(6, 1.5))


def test_binary_only_metrics() -> None:
    with pytest.raises(
        InputError,
        match=_msg(M.MSG_NOT_BINARY, name="y_true", metric="threshold_calibration_bias", label=2),
    ):
        M.threshold_calibration_bias([0, 1, 2], [0, 1, 1])
    with pytest.raises(
        InputError, match=_msg(M.MSG_IDENTITY, name="sensitive_features", found=["a", "b", "c"])
    ):
        M.bias_amplification(Y, P, sensitive_features=G, train_y_true=Y, train_sensitive_features=G)
    with pytest.raises(
        InputError, match=_msg(M.MSG_IDENTITY_MISMATCH, train=["m", "w"], test=["a", "b"])
    ):
        M.bias_amplification(
            Y[:4],
            P[:4],
            sensitive_features=G[:4],
            train_y_true=Y[:2],
            train_sensitive_features=["m", "w"],
        )
    with pytest.raises(InputError, match=_msg(M.MSG_MULTILABEL, name="y_pred", shape=(6,))):
        M.label_interrelation(P)


def test_recall_disparity_groups() -> None:
    with pytest.raises(InputError, match=_msg(M.MSG_GROUP_PAIR, known=["a", "b", "c"])):
        M.recall_disparity(Y, P, sensitive_features=G)
    with pytest.raises(
        InputError, match=_msg(M.MSG_UNKNOWN_GROUP, group="z", known=["a", "b", "c"])
    ):
        M.recall_disparity(Y, P, sensitive_features=G, groups=("a", "z"))
    with pytest.raises(InputError, match=_msg(M.MSG_MIN_COUNT, got=0)):
        M.recall_disparity(Y, P, sensitive_features=G, groups=("a", "b"), min_group_count=0)


def test_skew_arguments() -> None:
    with pytest.raises(InputError, match=_msg(M.MSG_K, n_items=3, got=4)):
        M.max_skew(np.zeros((2, 3)), sensitive_features=[0, 1, 1], k=4)
    with pytest.raises(InputError, match=_msg(M.MSG_REFERENCE, got="uniform")):
        M.min_skew(np.zeros((2, 3)), sensitive_features=[0, 1, 1], k=2, reference="uniform")  # type: ignore[arg-type]
    with pytest.raises(
        InputError,
        match=_msg(
            _arrays.MSG_LENGTH,
            name="sensitive_features",
            got=2,
            ref_name="the items of scores",
            want=3,
        ),
    ):
        M.max_skew(np.zeros((2, 3)), sensitive_features=[0, 1], k=2)


def test_drift_arguments() -> None:
    with pytest.raises(
        InputError, match=_msg(M.MSG_WEIGHT_KEYS, dense_only=["b"], compressed_only=["c"])
    ):
        M.weight_abs_difference(
            {"a": np.ones(2), "b": np.ones(2)}, {"a": np.ones(2), "c": np.ones(2)}
        )
    with pytest.raises(
        InputError, match=_msg(M.MSG_WEIGHT_SHAPE, key="a", dense=(2,), compressed=(3,))
    ):
        M.weight_abs_difference({"a": np.ones(2)}, {"a": np.ones(3)})
    with pytest.raises(InputError, match=_msg(M.MSG_LOGITS, name="logits", shape=(4,))):
        M.logit_variance(np.ones(4), sensitive_features=[0, 0, 1, 1])
    with pytest.raises(
        InputError, match=_msg(M.MSG_POPULATION, name="compressed_pred", shape=(1, 3))
    ):
        M.compression_identified_exemplars([0, 1, 1, 0], [0, 1, 1])


def test_missing_group_values() -> None:
    from pytest_fairquant.data.split import MSG_MISSING_VALUES

    groups = np.array(["a", None, "b", "b", "a", None], dtype=object)
    with pytest.raises(
        InputError, match=_msg(MSG_MISSING_VALUES, name="sensitive_features", count=2, first=1)
    ):
        M.fvo(Y, P, sensitive_features=groups)
    with pytest.raises(
        InputError, match=re.escape("attribute 'sensitive_features[:, 1]' has 1 missing values")
    ):
        M.group_metrics(
            Y, P, sensitive_features=np.array([[0, 1], [0, 1], [1, np.nan], [1, 0], [0, 0], [1, 1]])
        )


def test_topk_skew_arguments() -> None:
    with pytest.raises(InputError, match=_msg(M.MSG_TOP, shape=(2, 3), dtype="float64")):
        M.topk_skew_details(np.zeros((2, 3)), sensitive_features=[0, 1, 1], k=2)
    with pytest.raises(InputError, match=_msg(M.MSG_TOP_INDEX, index=5, last=2)):
        M.topk_skew_details(np.array([[0, 5]]), sensitive_features=[0, 1, 1], k=2)
    with pytest.raises(InputError, match=_msg(M.MSG_K, n_items=2, got=3)):
        M.topk_skew_details(np.array([[0, 1]]), sensitive_features=[0, 1, 1], k=3)
