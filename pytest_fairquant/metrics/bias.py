"""Paper 004's measures: Bias Amplification (sec. 2.2) and systematic bias (sec. 2.3):
threshold calibration bias, uncertainty, ECE and label interrelation.

Binary attributes are (n,) 0/1 arrays; multi-label (n, L) indicators (CelebA's 40 attributes)
give a tuple with one value per label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .._arrays import as_finite, as_labels, as_probabilities
from ..errors import InputError
from ..undefined import Undefined
from ._confusion import confusion_tables, table_ba
from ._grouped import group_ece, uncertain
from ._inputs import (
    MSG_SHAPE,
    as_weights,
    check_binary,
    check_n_bins,
    class_count,
    encode_groups,
)
from .report import probability_views

MSG_IDENTITY = (
    "{name} must hold exactly two identity values for bias_amplification (I=0 and I=1); "
    "found {found}: pick one binary identity attribute"
)
MSG_IDENTITY_MISMATCH = (
    "train_sensitive_features has values {train} but sensitive_features has {test}: "
    "both must use the same two identity values"
)
MSG_MULTILABEL = (
    "{name} must be a 2-D (n, L) matrix of predicted labels with L >= 2; got shape {shape}"
)

#: Paper 004's filters for Bias Amplification. BA_MIN_CELL: the fewest test samples in each
#: identity x label cell (the text, sec. 2.2; the released code checks the positives only).
BA_MIN_CELL = 10
BA_MIN_RELATIVE_TRAIN_GAP = 0.1

Value = float | tuple[float, ...]


def _unwrap(values: list[float], multilabel: bool) -> Value:
    return tuple(values) if multilabel else values[0]


def _binary(y: Any, name: str, metric: str, n: int | None = None) -> tuple[NDArray[np.int64], bool]:
    """0/1 labels as an (n, L) matrix, and whether they came as multi-label (n, L) input."""
    labels = as_labels(y, name=name, n=n)
    check_binary(labels, name=name, metric=metric)
    return (labels, True) if labels.ndim == 2 else (labels[:, None], False)


def _identity(values: Any, n: int, name: str) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    groups = encode_groups(values, n, name=name)
    if groups.n_groups != 2:
        raise InputError(MSG_IDENTITY.format(name=name, found=list(groups.names)))
    return groups.codes, groups.names


def bias_amplification(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    train_y_true: Any,
    train_sensitive_features: Any,
) -> Value:
    """BA = N(Â=1, I=g)/N(Â=1) − N(A=1, I=g)/N(A=1) on the test set (paper 004, sec. 2.2).

    The group g is the identity value (I=1 is the second of the two sorted values) with the
    higher P_train(A=1 | I). Undefined when either identity has fewer than 10 test positives
    (``ba_too_few_positives``) or fewer than 10 test negatives (``too_few_samples``: paper 004's
    text asks for 10 in every identity x label cell, its released code checks the positives
    only), when the relative train gap |P1 − P0| / min(P1, P0) is below 0.1, or with no
    predicted positives.
    """
    truth, multilabel = _binary(y_true, "y_true", "bias_amplification")
    pred, _ = _binary(y_pred, "y_pred", "bias_amplification", n=len(truth))
    if pred.shape != truth.shape:
        raise InputError(MSG_SHAPE.format(name="y_pred", got=pred.shape, want=truth.shape))
    identity, names = _identity(sensitive_features, len(truth), "sensitive_features")
    train, _ = _binary(train_y_true, "train_y_true", "bias_amplification")
    if train.shape[1] != truth.shape[1]:
        raise InputError(MSG_SHAPE.format(name="train_y_true", got=train.shape, want=truth.shape))
    train_identity, train_names = _identity(
        train_sensitive_features, len(train), "train_sensitive_features"
    )
    if train_names != names:
        raise InputError(MSG_IDENTITY_MISMATCH.format(train=list(train_names), test=list(names)))

    tables = confusion_tables(truth, pred, identity, 2, 2)  # (L, I, A, Â)
    true_pos = tables[..., 1, :].sum(axis=-1)  # (L, 2): N(A=1, I=i)
    true_neg = tables[..., 0, :].sum(axis=-1)  # (L, 2): N(A=0, I=i)
    pred_pos = tables[..., :, 1].sum(axis=-1)  # (L, 2): N(Â=1, I=i)
    train_onehot = np.eye(2)[train_identity]
    train_rate = (train.T @ train_onehot) / train_onehot.sum(axis=0)  # P_train(A=1 | I=i)
    values: list[float] = []
    for label in range(truth.shape[1]):
        p0, p1 = train_rate[label]
        group = 1 if p1 > p0 else 0
        low = min(p0, p1)
        relative_gap = abs(p1 - p0) / low if low > 0 else (np.inf if p1 != p0 else 0.0)
        if true_pos[label].min() < BA_MIN_CELL:
            short = names[int(np.argmin(true_pos[label]))]
            values.append(
                Undefined(
                    "ba_too_few_positives",
                    f"identity {short!r} has {int(true_pos[label].min())} test positives; BA needs {BA_MIN_CELL}",
                )
            )
        elif true_neg[label].min() < BA_MIN_CELL:
            short = names[int(np.argmin(true_neg[label]))]
            values.append(
                Undefined(
                    "too_few_samples",
                    f"identity {short!r} has {int(true_neg[label].min())} test samples with "
                    f"label 0; BA needs {BA_MIN_CELL} in every identity x label cell (paper 004, sec. 2.2)",
                )
            )
        elif relative_gap < BA_MIN_RELATIVE_TRAIN_GAP:
            values.append(
                Undefined(
                    "ba_small_train_gap",
                    f"relative train gap {relative_gap:.4g} < {BA_MIN_RELATIVE_TRAIN_GAP} (P0={p0:.4g}, P1={p1:.4g})",
                )
            )
        elif pred_pos[label].sum() == 0:
            values.append(Undefined("ba_no_predicted_positives", "the model predicts no positives"))
        else:
            values.append(float(table_ba(tables[label], group)))
    return _unwrap(values, multilabel)


@dataclass(frozen=True)
class CalibrationBias:
    """Threshold calibration bias with the less common value of A it was measured on.

    ``minority`` holds that value (0 or 1) per label; ``source`` says which labels decided it:
    ``"train"`` (``train_y_true`` was given, as in paper 004's code) or ``"test"``.
    """

    value: Value
    minority: tuple[int, ...]
    source: Literal["train", "test"]

    @property
    def notes(self) -> tuple[str, ...]:
        if self.source == "train":
            return (
                "the less common value of each label was decided on the training labels "
                "(train_y_true), as paper 004's code does",
            )
        return (
            "the less common value of each label was decided on the test labels; pass "
            "train_y_true= to decide it on the training labels, as paper 004's code does",
        )

    def to_dict(self) -> dict[str, Any]:
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        shown = [None if math.isnan(v) else v for v in values]
        return {
            "value": shown if isinstance(self.value, tuple) else shown[0],
            "minority": list(self.minority),
            "source": self.source,
            "notes": list(self.notes),
        }


def threshold_calibration_bias_details(
    y_true: Any, y_pred: Any, *, train_y_true: Any = None
) -> CalibrationBias:
    """TCB (paper 004, sec. 2.3) per label, with the less common value and where it came from.

    The less common value of A is 0 when more than half of the labels that decide it are 1,
    else 1 (a tie counts 1 as less common, as the authors' code does); those labels are
    ``train_y_true`` when given, else ``y_true``. TCB = N(Â=v)/N(A=v) on the test set for that
    value v; 1 is ideal.
    """
    truth, multilabel = _binary(y_true, "y_true", "threshold_calibration_bias")
    pred, _ = _binary(y_pred, "y_pred", "threshold_calibration_bias", n=len(truth))
    if pred.shape != truth.shape:
        raise InputError(MSG_SHAPE.format(name="y_pred", got=pred.shape, want=truth.shape))
    deciding = truth
    if train_y_true is not None:
        deciding, _ = _binary(train_y_true, "train_y_true", "threshold_calibration_bias")
        if deciding.shape[1] != truth.shape[1]:
            raise InputError(
                MSG_SHAPE.format(name="train_y_true", got=deciding.shape, want=truth.shape)
            )
    minority = tuple(0 if share > 0.5 else 1 for share in deciding.mean(axis=0))
    values: list[float] = []
    for label, less_common in enumerate(minority):
        actual = int((truth[:, label] == less_common).sum())
        if actual == 0:
            reason = "no_positives" if less_common == 1 else "no_negatives"
            values.append(
                Undefined(reason, f"no sample has label {less_common}; TCB divides by their count")
            )
        else:
            values.append(float((pred[:, label] == less_common).sum() / actual))
    return CalibrationBias(
        value=_unwrap(values, multilabel),
        minority=minority,
        source="test" if train_y_true is None else "train",
    )


def threshold_calibration_bias(y_true: Any, y_pred: Any, *, train_y_true: Any = None) -> Value:
    """N(Â=1)/N(A=1) when 1 is the less common value of A, else N(Â=0)/N(A=0); 1 is ideal.

    The less common value comes from ``train_y_true`` when given (paper 004's code), else from
    ``y_true``; :func:`threshold_calibration_bias_details` says which, and per label.
    """
    return threshold_calibration_bias_details(y_true, y_pred, train_y_true=train_y_true).value


def uncertainty(y_prob: Any, *, multilabel: bool = False) -> Value:
    """Share of predictions with 0.1 < p < 0.9 (paper 004).

    p is the positive-class probability for (n,) input, the top-label probability for (n, C)
    input, and each label's probability for (n, L) input with ``multilabel=True``.
    """
    prob = as_probabilities(y_prob, name="y_prob")
    if prob.ndim == 2 and not multilabel:
        prob = prob.max(axis=1)
    share = uncertain(prob).mean(axis=0)
    return _unwrap([float(u) for u in np.atleast_1d(share)], multilabel)


def expected_calibration_error(
    y_true: Any, y_prob: Any, *, n_bins: int = 10, sample_weight: Any = None
) -> Value:
    """ECE over ``n_bins`` equal-width bins of [0, 1]: Σ_b (n_b/N)·|acc_b − conf_b|.

    Bin b holds b/n_bins <= p < (b+1)/n_bins; p = 1.0 goes in the last bin. Binary (n,) labels
    use paper 004's convention (p is the positive-class probability, acc_b the share of
    positive labels); multiclass (n, C) probabilities use top-label confidence and accuracy;
    multi-label (n, L) labels give one ECE per label.
    """
    n_bins = check_n_bins(n_bins)
    truth = as_labels(y_true, name="y_true")
    if truth.ndim == 2:
        check_binary(truth, name="y_true", metric="a multi-label ECE")
        n_classes = 2
    else:
        width = np.shape(y_prob)[1] if np.ndim(y_prob) == 2 else 2
        n_classes = class_count(truth, width)
    views = probability_views(y_prob, truth, n_classes)
    weights = as_weights(sample_weight, len(truth))
    ece = group_ece(
        views.correct, views.confidence, np.zeros(len(truth), dtype=np.int64), 1, n_bins, weights
    )
    return _unwrap([float(v) for v in np.atleast_2d(ece)[:, -1]], truth.ndim == 2)


def label_interrelation(y_pred: Any) -> tuple[float, ...]:
    """For multi-label outputs: R² of a least-squares fit (with intercept) of each label on the others.

    ``y_pred`` is (n, L): predicted labels, or the probabilities themselves (paper 004 regresses
    "the model outputs").
    """
    pred = as_finite(y_pred, name="y_pred")
    if pred.ndim != 2 or pred.shape[1] < 2:
        raise InputError(MSG_MULTILABEL.format(name="y_pred", shape=pred.shape))
    n, n_labels = pred.shape
    values: list[float] = []
    for label in range(n_labels):
        target = pred[:, label]
        total = float(((target - target.mean()) ** 2).sum())
        if total == 0:
            values.append(
                Undefined("zero_denominator", f"label {label} is constant in the predictions")
            )
            continue
        design = np.column_stack([np.ones(n), np.delete(pred, label, axis=1)])
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = float(((target - design @ coef) ** 2).sum())
        values.append(1.0 - residual / total)
    return tuple(values)
