"""Group gaps with fairlearn's signatures: FVO, equalized odds, rate differences, disparate
impact (paper 001's PPV-based one) and FACET's per-class recall disparity.

Every gap is a summary of a :class:`GroupReport`, so the numbers match the tables reports show.
Multiclass rates are one-vs-rest per class, macro-averaged within each group before the
groups are compared (``average="macro"``; ``"auto"`` is binary for two classes). Multi-label
inputs give a tuple with one gap per label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._arrays import as_labels
from ..errors import InputError
from ..undefined import Undefined
from ._confusion import confusion_tables, rates
from ._inputs import MSG_SINGLE_GROUP, prepare
from .report import Average, GroupReport, Method, group_metrics

MSG_AGG = "agg must be 'worst_case', 'mean' or 'tpr'; got {got!r}"
MSG_UNKNOWN_GROUP = (
    "groups names {group!r}, which is not a group of sensitive_features; groups are {known}"
)
MSG_GROUP_PAIR = (
    "recall_disparity compares two groups: pass groups=(a, b) naming two different groups of "
    "sensitive_features (it has {known})"
)
MSG_MIN_COUNT = "min_group_count must be a positive int; got {got!r}"

Gap = float | tuple[float, ...]


def _gap_report(
    metrics: tuple[str, ...],
    gap: str,
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    sample_weight: Any,
    n_classes: int | None,
    average: Average,
) -> GroupReport:
    report = group_metrics(
        y_true,
        y_pred,
        sensitive_features=sensitive_features,
        metrics=metrics,
        sample_weight=sample_weight,
        n_classes=n_classes,
        average=average,
    )
    if len(report.n) < 2:
        raise InputError(MSG_SINGLE_GROUP.format(group=next(iter(report.n)), metric=gap))
    return report


def _per_label(report: GroupReport, metric: str, summary: Callable[[str], float]) -> Gap:
    """One value, or one per label (the report's keys ``metric[label]``) for multi-label tasks."""
    labels = report.metadata.get("labels")
    if labels is None:
        return summary(metric)
    return tuple(summary(f"{metric}[{label}]") for label in labels)


def fvo(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    method: Method = "between_groups",
    n_classes: int | None = None,
) -> Gap:
    """Fairness Violation Observed (paper 002, eq. 2): max_g acc_g − min_g acc_g."""
    report = _gap_report(
        ("accuracy",), "fvo", y_true, y_pred, sensitive_features, sample_weight, n_classes, "auto"
    )
    return _per_label(report, "accuracy", lambda m: report.difference(m, method))


def overall_accuracy(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> Gap:
    """OA (paper 002, eq. 3): the accuracy over all samples."""
    truth = as_labels(y_true, name="y_true")
    report = group_metrics(
        truth,
        y_pred,
        sensitive_features=np.zeros(len(truth), dtype=np.int64),
        metrics=("accuracy",),
        sample_weight=sample_weight,
    )
    return _per_label(report, "accuracy", lambda m: report.overall[m])


def _difference(
    metric: str,
    gap: str,
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    sample_weight: Any,
    method: Method,
    n_classes: int | None,
    average: Average,
) -> Gap:
    report = _gap_report(
        (metric,), gap, y_true, y_pred, sensitive_features, sample_weight, n_classes, average
    )
    return _per_label(report, metric, lambda m: report.difference(m, method))


def true_positive_rate_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    method: Method = "between_groups",
    n_classes: int | None = None,
    average: Average = "auto",
) -> Gap:
    """max_g TPR_g − min_g TPR_g (paper 003's |TPR_a − TPR_b| for two groups)."""
    return _difference(
        "tpr",
        "true_positive_rate_difference",
        y_true,
        y_pred,
        sensitive_features,
        sample_weight,
        method,
        n_classes,
        average,
    )


def false_positive_rate_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    method: Method = "between_groups",
    n_classes: int | None = None,
    average: Average = "auto",
) -> Gap:
    """max_g FPR_g − min_g FPR_g (paper 003)."""
    return _difference(
        "fpr",
        "false_positive_rate_difference",
        y_true,
        y_pred,
        sensitive_features,
        sample_weight,
        method,
        n_classes,
        average,
    )


def demographic_parity_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    method: Method = "between_groups",
    n_classes: int | None = None,
    average: Average = "auto",
) -> Gap:
    """max_g selection_rate_g − min_g selection_rate_g (paper 001)."""
    return _difference(
        "selection_rate",
        "demographic_parity_difference",
        y_true,
        y_pred,
        sensitive_features,
        sample_weight,
        method,
        n_classes,
        average,
    )


def equalized_odds_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    method: Method = "between_groups",
    agg: Literal["worst_case", "mean", "tpr"] = "worst_case",
    n_classes: int | None = None,
    average: Average = "auto",
) -> Gap:
    """fairlearn's max(|ΔTPR|, |ΔFPR|) (``agg="worst_case"``), their mean, or paper 003's |ΔTPR|."""
    if agg not in ("worst_case", "mean", "tpr"):
        raise InputError(MSG_AGG.format(got=agg))
    report = _gap_report(
        ("tpr", "fpr"),
        "equalized_odds_difference",
        y_true,
        y_pred,
        sensitive_features,
        sample_weight,
        n_classes,
        average,
    )

    def combine(tpr_key: str) -> float:
        tpr = report.difference(tpr_key, method)
        if agg == "tpr":
            return tpr
        fpr = report.difference("fpr" + tpr_key[3:], method)
        for part in (tpr, fpr):
            if isinstance(part, Undefined):
                return part
        return max(tpr, fpr) if agg == "worst_case" else (tpr + fpr) / 2

    return _per_label(report, "tpr", combine)


def disparate_impact(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    n_classes: int | None = None,
    average: Average = "auto",
) -> Gap:
    """Paper 001's disparate impact: PPV_g / max_g' PPV_g', returned as its minimum over groups.

    The per-group ratios are ``report.by_group["ppv"][g] / report.group_max("ppv")`` of
    ``group_metrics(..., metrics=("ppv",))``.
    """
    report = _gap_report(
        ("ppv",),
        "disparate_impact",
        y_true,
        y_pred,
        sensitive_features,
        sample_weight,
        n_classes,
        average,
    )
    return _per_label(report, "ppv", lambda m: report.ratio(m))


@dataclass(frozen=True)
class RecallDisparity:
    """FACET's recall disparity recall_c(a) − recall_c(b) over the eligible classes c."""

    min: float
    max: float
    min_class: int | None
    max_class: int | None
    groups: tuple[str, str]
    per_class: dict[int, float]
    excluded_classes: tuple[int, ...]
    min_group_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "min": None if np.isnan(self.min) else self.min,
            "max": None if np.isnan(self.max) else self.max,
            "reason": getattr(self.min, "reason", None),
            "min_class": self.min_class,
            "max_class": self.max_class,
            "groups": list(self.groups),
            "per_class": {str(c): v for c, v in self.per_class.items()},
            "excluded_classes": list(self.excluded_classes),
            "min_group_count": self.min_group_count,
        }


def recall_disparity(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    groups: tuple[Any, Any] | None = None,
    min_group_count: int = 25,
    n_classes: int | None = None,
) -> RecallDisparity:
    """Per class c, recall_c(a) − recall_c(b) (paper 000, FACET), with its min and max.

    Only classes with at least ``min_group_count`` samples in both groups count; the others are
    listed in ``excluded_classes``. ``groups`` may be left out when there are exactly two.
    """
    if (
        not isinstance(min_group_count, int)
        or isinstance(min_group_count, bool)
        or min_group_count < 1
    ):
        raise InputError(MSG_MIN_COUNT.format(got=min_group_count))
    data = prepare(y_true, y_pred, sensitive_features=sensitive_features, n_classes=n_classes)
    names = data.groups.names
    if groups is None:
        if len(names) != 2:
            raise InputError(MSG_GROUP_PAIR.format(known=list(names)))
        groups = (names[0], names[1])
    pair = tuple(str(g) for g in groups)
    if len(pair) != 2 or pair[0] == pair[1]:
        raise InputError(MSG_GROUP_PAIR.format(known=list(names)))
    for g in pair:
        if g not in names:
            raise InputError(MSG_UNKNOWN_GROUP.format(group=g, known=list(names)))
    a, b = names.index(pair[0]), names.index(pair[1])
    table = confusion_tables(
        data.y_true, data.y_pred, data.groups.codes, data.groups.n_groups, data.n_classes
    )
    support = table.sum(axis=-1)
    recall = rates(table)["tpr"]
    eligible = (support[a] >= min_group_count) & (support[b] >= min_group_count)
    diff = recall[a] - recall[b]
    per_class = {int(c): float(diff[c]) for c in np.flatnonzero(eligible)}
    excluded = tuple(int(c) for c in np.flatnonzero(~eligible))
    if not per_class:
        missing = Undefined(
            "no_eligible_classes",
            f"no class has {min_group_count} samples in both {pair[0]!r} and {pair[1]!r}",
        )
        return RecallDisparity(
            missing, missing, None, None, (pair[0], pair[1]), {}, excluded, min_group_count
        )
    lo = min(per_class, key=per_class.__getitem__)
    hi = max(per_class, key=per_class.__getitem__)
    return RecallDisparity(
        per_class[lo],
        per_class[hi],
        lo,
        hi,
        (pair[0], pair[1]),
        per_class,
        excluded,
        min_group_count,
    )
