"""Validation shared by every metric: labels, groups, weights and the known classes.

Each public metric turns its arguments into a :class:`LabelData` (or uses the smaller helpers
here), so the accepted inputs and the error messages are the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._arrays import MSG_EMPTY, as_array, as_finite, as_labels, check_length
from ..data.split import INTERSECTION, GroupIndex, attribute_values, group_codes
from ..errors import InputError

MSG_NEGATIVE_LABEL = (
    "{name} holds the negative label {label}; labels must be class ids 0..C-1 "
    "(encode other labels first, e.g. with np.unique(labels, return_inverse=True))"
)
MSG_UNKNOWN_CLASS = (
    "{name} holds class {label}, but only classes 0..{last} are known; "
    "pass n_classes={need} (or more) if the model has that many classes"
)
MSG_SHAPE = (
    "{name} has shape {got} but y_true has shape {want}: pass one label per sample "
    "(or one indicator per sample and label for multi-label tasks)"
)
MSG_NOT_BINARY = "{name} must hold binary labels 0/1 for {metric}; found {label}"
MSG_SINGLE_GROUP = (
    "sensitive_features has a single group ({group!r}) but {metric} compares groups: "
    "pass a sensitive feature with at least two values"
)
MSG_WEIGHTS = (
    "sample_weight must be finite and non-negative, one per sample; found {bad!r} at index {index}"
)
MSG_FEATURES_SHAPE = (
    "sensitive_features must be one value per sample (n,) or several attributes (n, k) whose "
    "intersection is used; got shape {shape}"
)
MSG_AVERAGE = "average must be one of {known}; got {got!r}"
MSG_N_BINS = "n_bins must be a positive int; got {got!r}"


@dataclass(frozen=True)
class LabelData:
    """Validated labels of one prediction set against the truth, with groups and weights.

    ``y_true`` and ``y_pred`` are (n,) class ids in ``0..n_classes-1`` or (n, L) 0/1 indicators
    (multi-label, then ``n_classes == 2``).
    """

    y_true: NDArray[np.int64]
    y_pred: NDArray[np.int64]
    groups: GroupIndex
    n_classes: int
    weights: NDArray[np.float64] | None

    @property
    def multilabel(self) -> bool:
        return self.y_true.ndim == 2


def encode_groups(
    sensitive_features: Any,
    n: int | None,
    *,
    name: str = "sensitive_features",
    ref_name: str = "y_true",
) -> GroupIndex:
    """Group codes for (n,) values, the intersection of (n, k) columns, or a ready GroupIndex.

    ``n`` is the number of samples they must cover (``None``: whatever they cover).
    """
    if isinstance(sensitive_features, GroupIndex):
        if n is not None:
            check_length(sensitive_features.codes, n, name=name, ref_name=ref_name)
        return sensitive_features
    values = as_array(sensitive_features, name=name)
    if values.size == 0:
        raise InputError(MSG_EMPTY.format(name=name))
    n = len(values) if n is None else n
    check_length(values, n, name=name, ref_name=ref_name)
    if values.ndim == 1:
        values = attribute_values(values, name, n)  # rejects missing values, like a split
        attribute = str(getattr(sensitive_features, "name", None) or name)
    elif values.ndim == 2:
        columns = [
            attribute_values(values[:, j], f"{name}[:, {j}]", n) for j in range(values.shape[1])
        ]
        values = np.asarray(
            [INTERSECTION.join(map(str, row)) for row in zip(*columns, strict=True)], dtype=object
        )
        names = getattr(sensitive_features, "columns", None)
        attribute = name if names is None else INTERSECTION.join(str(c) for c in names)
    else:
        raise InputError(MSG_FEATURES_SHAPE.format(shape=values.shape))
    codes, names = group_codes(values)
    return GroupIndex(attribute, codes, names)


def check_two_groups(groups: GroupIndex, metric: str) -> None:
    """Gaps compare groups: a single group is a caller error, not an undefined value."""
    if groups.n_groups < 2:
        raise InputError(MSG_SINGLE_GROUP.format(group=groups.names[0], metric=metric))


def as_weights(sample_weight: Any, n: int) -> NDArray[np.float64] | None:
    if sample_weight is None:
        return None
    w = as_finite(sample_weight, name="sample_weight", n=n)
    if w.ndim != 1 or (w < 0).any():
        bad = np.flatnonzero(w.ravel() < 0)
        index = int(bad[0]) if len(bad) else 0
        raise InputError(MSG_WEIGHTS.format(bad=float(w.ravel()[index]), index=index))
    return w


def check_binary(labels: NDArray[np.int64], *, name: str, metric: str) -> None:
    bad = (labels != 0) & (labels != 1)
    if bad.any():
        raise InputError(MSG_NOT_BINARY.format(name=name, metric=metric, label=int(labels[bad][0])))


def class_count(y_true: NDArray[np.int64], n_classes: int | None) -> int:
    """The known classes: ``n_classes`` when given, else 0..max(y_true) (at least two)."""
    if (y_true < 0).any():
        raise InputError(MSG_NEGATIVE_LABEL.format(name="y_true", label=int(y_true.min())))
    inferred = max(2, int(y_true.max()) + 1)
    known = inferred if n_classes is None else int(n_classes)
    check_classes(y_true, known, name="y_true")
    return known


def check_classes(labels: NDArray[np.int64], n_classes: int, *, name: str) -> None:
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0:
        raise InputError(MSG_NEGATIVE_LABEL.format(name=name, label=lo))
    if hi >= n_classes:
        raise InputError(
            MSG_UNKNOWN_CLASS.format(name=name, label=hi, last=n_classes - 1, need=hi + 1)
        )


def prediction_labels(
    y_pred: Any, y_true: NDArray[np.int64], n_classes: int, *, name: str = "y_pred"
) -> NDArray[np.int64]:
    """Predicted labels aligned with ``y_true`` (same shape) and inside the known classes."""
    pred = as_labels(y_pred, name=name, n=len(y_true))
    if pred.shape != y_true.shape:
        raise InputError(MSG_SHAPE.format(name=name, got=pred.shape, want=y_true.shape))
    check_classes(pred, n_classes, name=name)
    return pred


def prepare(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    n_classes: int | None = None,
) -> LabelData:
    """Validate the usual ``(y_true, y_pred, sensitive_features, sample_weight)`` quadruple."""
    truth = as_labels(y_true, name="y_true")
    if truth.ndim not in (1, 2):
        raise InputError(MSG_SHAPE.format(name="y_true", got=truth.shape, want="(n,) or (n, L)"))
    if truth.ndim == 2:
        check_binary(truth, name="y_true", metric="a multi-label task")
        known = 2
    else:
        known = class_count(truth, n_classes)
    pred = prediction_labels(y_pred, truth, known)
    groups = encode_groups(sensitive_features, len(truth))
    return LabelData(truth, pred, groups, known, as_weights(sample_weight, len(truth)))


def check_n_bins(n_bins: Any) -> int:
    if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
        raise InputError(MSG_N_BINS.format(got=n_bins))
    return int(n_bins)
