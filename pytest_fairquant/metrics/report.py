"""``GroupReport``: every per-group metric of one prediction set, computed in one vectorised pass.

The fairlearn-shaped gap functions are thin views of a report (``fvo`` is
``group_metrics(...).difference("accuracy")``), so a gap and the table a report shows can never
disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .._arrays import as_labels, as_probabilities
from ..errors import InputError
from ..undefined import Undefined
from ._confusion import class_average, confusion_tables, table_metric
from ._grouped import group_auc, group_ece, group_mean, uncertain
from ._inputs import (
    MSG_AVERAGE,
    MSG_SHAPE,
    LabelData,
    as_weights,
    check_n_bins,
    encode_groups,
    prepare,
)
from .registry import METRICS, check_metric

MSG_NEEDS_PROB = "metric {metric!r} needs probabilities: pass y_prob (shape {shape})"
MSG_NEEDS_BASE = "metric 'flip_rate' needs the dense model's labels: pass base_pred"
MSG_METHOD = "method must be 'between_groups' or 'to_overall'; got {got!r}"
MSG_NO_METRICS = "metrics is empty: name at least one of {known}"
MSG_NOT_IN_REPORT = "metric {metric!r} is not in this report; it has {known}"

Average = Literal["auto", "binary", "macro"]
Method = Literal["between_groups", "to_overall"]
_AVERAGES = ("auto", "binary", "macro")
_RATE_METRICS = ("tpr", "fpr", "fnr", "ppv", "selection_rate")
_PROB_METRICS = ("auc", "ece", "uncertainty")

#: Why a per-group value is NaN, by metric, once the group is known to be non-empty.
_NAN_REASON: dict[str, tuple[str, str]] = {
    "accuracy": ("empty_group", "no samples"),
    "selection_rate": ("empty_group", "no samples"),
    "tpr": ("no_positives", "no samples of the positive class"),
    "fnr": ("no_positives", "no samples of the positive class"),
    "fpr": ("no_negatives", "no samples outside the positive class"),
    "ppv": ("zero_denominator", "no predicted positives"),
    "kappa": (
        "zero_denominator",
        "chance agreement is 1 (a single label in truth and predictions)",
    ),
    "auc": ("single_class", "needs both positive and negative samples"),
    "ece": ("empty_group", "no samples"),
    "uncertainty": ("empty_group", "no samples"),
    "flip_rate": ("empty_group", "no samples"),
    "logit_cosine_distance": ("zero_denominator", "an all-zero logit vector"),
    "logit_variance": ("empty_group", "no samples"),
}


def _plain(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class GroupReport:
    """Per-group values of one or more metrics for one sensitive attribute.

    ``by_group[metric][group]`` is a float, or an :class:`Undefined` whose code is also in
    ``reasons[metric][group]``. With more than two groups a difference is max minus min.
    """

    attribute: str
    metrics: tuple[str, ...]
    overall: dict[str, float]
    by_group: dict[str, dict[str, float]]
    n: dict[str, int]
    reasons: dict[str, dict[str, str]]
    intervals: dict[str, dict[str, tuple[float, float]]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def _metric(self, metric: str | None) -> str:
        if metric is None:
            return self.metrics[0]
        if metric not in self.by_group:
            raise InputError(MSG_NOT_IN_REPORT.format(metric=metric, known=", ".join(self.metrics)))
        return metric

    def _defined(
        self, metric: str | None, *, min_groups: int = 2
    ) -> tuple[str, dict[str, float] | Undefined]:
        """The metric's per-group values, or why a summary over groups is undefined."""
        name = self._metric(metric)
        values = self.by_group[name]
        if len(values) < min_groups:
            return name, Undefined(
                "single_group", f"{name} is known for {len(values)} group(s); a gap needs two"
            )
        for group, value in values.items():
            if math.isnan(value):
                reason = self.reasons[name].get(group, "zero_denominator")
                detail = getattr(value, "detail", reason)
                return name, Undefined(reason, f"{name} of group {group!r} is undefined: {detail}")
        return name, values

    def _overall(self, name: str) -> float:
        value = self.overall[name]
        if math.isnan(value):
            detail = getattr(value, "detail", "undefined")
            return Undefined(
                getattr(value, "reason", "zero_denominator"),
                f"overall {name} is undefined: {detail}",
            )
        return value

    def difference(self, metric: str | None = None, method: Method = "between_groups") -> float:
        """max_g − min_g (``between_groups``) or max_g |v_g − overall| (``to_overall``)."""
        _check_method(method)
        name, values = self._defined(metric)
        if isinstance(values, Undefined):
            return values
        v = np.array(list(values.values()))
        if method == "between_groups":
            return float(v.max() - v.min())
        overall = self._overall(name)
        return overall if math.isnan(overall) else float(np.abs(v - overall).max())

    def ratio(self, metric: str | None = None, method: Method = "between_groups") -> float:
        """min_g / max_g, or min_g of min(v_g / overall, overall / v_g) (fairlearn's ratios)."""
        _check_method(method)
        name, values = self._defined(metric)
        if isinstance(values, Undefined):
            return values
        v = np.array(list(values.values()))
        if method == "between_groups":
            lo, hi = np.array([v.min()]), np.array([v.max()])
        else:
            overall = self._overall(name)
            if math.isnan(overall):
                return overall
            lo, hi = np.minimum(v, overall), np.maximum(v, overall)
        if (hi == 0).any():
            return Undefined(
                "zero_denominator", f"{name} is 0 where a ratio needs a non-zero value"
            )
        return float((lo / hi).min())

    def group_min(self, metric: str | None = None) -> float:
        _, values = self._defined(metric, min_groups=1)
        return values if isinstance(values, Undefined) else float(min(values.values()))

    def group_max(self, metric: str | None = None) -> float:
        _, values = self._defined(metric, min_groups=1)
        return values if isinstance(values, Undefined) else float(max(values.values()))

    def with_intervals(
        self, intervals: Mapping[str, Mapping[str, tuple[float, float]]]
    ) -> GroupReport:
        frozen = {
            m: {g: (float(lo), float(hi)) for g, (lo, hi) in per.items()}
            for m, per in intervals.items()
        }
        return replace(self, intervals=frozen)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain floats, NaN as null with its reason and detail beside it."""

        def why(value: float) -> dict[str, str]:
            if isinstance(value, Undefined):
                return value.to_dict()
            return {"reason": "nan", "detail": "undefined"}

        return {
            "attribute": self.attribute,
            "metrics": list(self.metrics),
            "n": {str(g): int(k) for g, k in self.n.items()},
            "overall": {m: _plain(v) for m, v in self.overall.items()},
            "by_group": {
                m: {str(g): _plain(v) for g, v in per.items()} for m, per in self.by_group.items()
            },
            "reasons": {
                m: {str(g): why(v) for g, v in per.items() if math.isnan(v)}
                for m, per in self.by_group.items()
                if any(math.isnan(v) for v in per.values())
            },
            "overall_reasons": {m: why(v) for m, v in self.overall.items() if math.isnan(v)},
            "intervals": None
            if self.intervals is None
            else {
                m: {str(g): [float(lo), float(hi)] for g, (lo, hi) in per.items()}
                for m, per in self.intervals.items()
            },
            "metadata": self.metadata,
        }


def _check_method(method: str) -> None:
    if method not in ("between_groups", "to_overall"):
        raise InputError(MSG_METHOD.format(got=method))


def resolve_average(average: str, n_classes: int) -> Literal["binary", "macro"]:
    if average not in _AVERAGES:
        raise InputError(MSG_AVERAGE.format(known=", ".join(_AVERAGES), got=average))
    if average == "auto":
        return "binary" if n_classes == 2 else "macro"
    return "binary" if average == "binary" else "macro"


def _kappa(table: NDArray[Any]) -> NDArray[np.float64]:
    total = table.sum(axis=(-2, -1)).astype(np.float64)
    observed = np.trace(table, axis1=-2, axis2=-1) / total
    chance = (table.sum(axis=-1) * table.sum(axis=-2)).sum(axis=-1) / total**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(chance < 1, (observed - chance) / (1 - chance), np.nan)


@dataclass(frozen=True)
class _Probabilities:
    """What the probability metrics need: a score per task, its confidence and correctness."""

    confidence: NDArray[np.float64]  # binned for ECE, thresholded for uncertainty
    correct: NDArray[np.float64]  # 1 where the calibration target holds
    auc_scores: tuple[NDArray[np.float64], ...]  # one binary task per class / label
    auc_positive: tuple[NDArray[np.int64], ...]


def probability_views(
    y_prob: Any, y_true: NDArray[np.int64], n_classes: int, *, name: str = "y_prob"
) -> _Probabilities:
    """Paper 004's binary convention (positive-class p), top-label for multiclass, per label."""
    n = len(y_true)
    prob = as_probabilities(y_prob, name=name, n=n)
    if y_true.ndim == 2:
        if prob.shape != y_true.shape:
            raise InputError(MSG_SHAPE.format(name=name, got=prob.shape, want=y_true.shape))
        labels = range(prob.shape[1])
        return _Probabilities(
            prob,
            y_true.astype(np.float64),
            tuple(prob[:, j] for j in labels),
            tuple(y_true[:, j] for j in labels),
        )
    if n_classes == 2 and prob.ndim == 1:
        prob = np.stack([1.0 - prob, prob], axis=1)
    if prob.ndim != 2 or prob.shape[1] != n_classes:
        raise InputError(MSG_SHAPE.format(name=name, got=prob.shape, want=f"({n}, {n_classes})"))
    if n_classes == 2:
        p = prob[:, 1]
        return _Probabilities(p, (y_true == 1).astype(np.float64), (p,), (y_true,))
    top = prob.argmax(axis=1)
    return _Probabilities(
        prob.max(axis=1),
        (top == y_true).astype(np.float64),
        tuple(prob[:, c] for c in range(n_classes)),
        tuple((y_true == c).astype(np.int64) for c in range(n_classes)),
    )


def _auc(views: _Probabilities, data: LabelData) -> NDArray[np.float64]:
    codes, n_groups, w = data.groups.codes, data.groups.n_groups, data.weights
    per_task = np.stack(
        [
            group_auc(pos, s, codes, n_groups, w)
            for pos, s in zip(views.auc_positive, views.auc_scores, strict=True)
        ]
    )
    if data.multilabel:
        return per_task
    return per_task[0] if data.n_classes == 2 else class_average(per_task.T, "macro")


def group_metrics(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    metrics: Sequence[str] = ("accuracy", "tpr", "fpr", "selection_rate"),
    y_prob: Any = None,
    sample_weight: Any = None,
    attribute: str | None = None,
    n_classes: int | None = None,
    average: Average = "auto",
    base_pred: Any = None,
    n_bins: int = 10,
    label_names: Sequence[str] | None = None,
) -> GroupReport:
    """Per-group and overall values of ``metrics`` from one confusion-table ``bincount``.

    Rates are one-vs-rest per class; ``average="auto"`` reports the positive class (1) of a
    binary task and the macro average (mean over the classes defined in the group) otherwise.
    Multi-label (n, L) indicators give one entry per label, named ``"metric[label]"``.
    """
    names = tuple(check_metric(m) for m in metrics)
    if not names:
        raise InputError(MSG_NO_METRICS.format(known=", ".join(METRICS)))
    data = prepare(
        y_true,
        y_pred,
        sensitive_features=sensitive_features,
        sample_weight=sample_weight,
        n_classes=n_classes,
    )
    mode = resolve_average(average, data.n_classes)
    n_bins = check_n_bins(n_bins)
    groups = data.groups
    needs_prob = [m for m in names if m in _PROB_METRICS]
    if needs_prob and y_prob is None:
        shape = (
            f"({len(data.y_true)},)"
            if data.n_classes == 2
            else f"({len(data.y_true)}, {data.n_classes})"
        )
        raise InputError(MSG_NEEDS_PROB.format(metric=needs_prob[0], shape=shape))
    if "flip_rate" in names and base_pred is None:
        raise InputError(MSG_NEEDS_BASE)

    table = confusion_tables(
        data.y_true,
        data.y_pred,
        groups.codes,
        groups.n_groups,
        data.n_classes,
        weights=data.weights,
    )
    table = np.concatenate(
        [table, table.sum(axis=-3, keepdims=True)], axis=-3
    )  # last "group": all samples
    views = None if y_prob is None else probability_views(y_prob, data.y_true, data.n_classes)
    computed: dict[str, NDArray[np.float64]] = {}
    for m in names:
        if m == "accuracy" or m in _RATE_METRICS:
            computed[m] = table_metric(table, m, "binary" if data.multilabel else mode)
        elif m == "kappa":
            computed[m] = _kappa(table)
        elif m == "flip_rate":
            base = as_labels(base_pred, name="base_pred", n=len(data.y_true))
            if base.shape != data.y_pred.shape:
                raise InputError(
                    MSG_SHAPE.format(name="base_pred", got=base.shape, want=data.y_true.shape)
                )
            computed[m] = group_mean(
                (base != data.y_pred).astype(np.float64),
                groups.codes,
                groups.n_groups,
                data.weights,
            )
        else:
            assert views is not None
            if m == "auc":
                computed[m] = _auc(views, data)
            elif m == "ece":
                computed[m] = group_ece(
                    views.correct,
                    views.confidence,
                    groups.codes,
                    groups.n_groups,
                    n_bins,
                    data.weights,
                )
            else:
                computed[m] = group_mean(
                    uncertain(views.confidence), groups.codes, groups.n_groups, data.weights
                )

    counts = groups.counts()
    labels = _label_names(label_names, data)
    keys: list[str] = []
    overall: dict[str, float] = {}
    by_group: dict[str, dict[str, float]] = {}
    reasons: dict[str, dict[str, str]] = {}
    for m in names:
        rows = (
            [(f"{m}[{lab}]", computed[m][j]) for j, lab in enumerate(labels)]
            if data.multilabel
            else [(m, computed[m])]
        )
        for key, values in rows:
            keys.append(key)
            per = {
                g: _value(m, float(values[i]), int(counts[i]), g)
                for i, g in enumerate(groups.names)
            }
            by_group[key] = per
            overall[key] = _value(m, float(values[-1]), len(data.y_true), "all samples")
            reasons[key] = {g: v.reason for g, v in per.items() if isinstance(v, Undefined)}
    metadata: dict[str, Any] = {
        "n_classes": data.n_classes,
        "average": "per_label" if data.multilabel else mode,
        "weighted": data.weights is not None,
    }
    if data.multilabel:
        metadata["labels"] = list(labels)
    return GroupReport(
        attribute=attribute or groups.attribute,
        metrics=tuple(keys),
        overall=overall,
        by_group=by_group,
        n={g: int(c) for g, c in zip(groups.names, counts, strict=True)},
        reasons=reasons,
        metadata=metadata,
    )


def _label_names(label_names: Sequence[str] | None, data: LabelData) -> tuple[str, ...]:
    if not data.multilabel:
        return ()
    n_labels = data.y_true.shape[1]
    names = (
        tuple(str(x) for x in label_names)
        if label_names is not None
        else tuple(str(j) for j in range(n_labels))
    )
    if len(names) != n_labels:
        raise InputError(MSG_SHAPE.format(name="label_names", got=(len(names),), want=(n_labels,)))
    return names


def _value(metric: str, value: float, n: int, group: str) -> float:
    if not math.isnan(value):
        return value
    if n == 0:
        return Undefined("empty_group", f"group {group!r} has no samples")
    reason, detail = _NAN_REASON[metric]
    return Undefined(reason, f"{detail} in {group}")


def per_sample_report(
    metric: str,
    values: NDArray[np.float64],
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    attribute: str | None = None,
) -> GroupReport:
    """A report of the per-group mean of one per-sample quantity (logit distances, flips)."""
    groups = encode_groups(sensitive_features, len(values))
    weights = as_weights(sample_weight, len(values))
    means = group_mean(values, groups.codes, groups.n_groups, weights)
    counts = groups.counts()
    per = {
        g: _value(metric, float(means[i]), int(counts[i]), g) for i, g in enumerate(groups.names)
    }
    return GroupReport(
        attribute=attribute or groups.attribute,
        metrics=(metric,),
        overall={metric: _value(metric, float(means[-1]), len(values), "all samples")},
        by_group={metric: per},
        n={g: int(c) for g, c in zip(groups.names, counts, strict=True)},
        reasons={metric: {g: v.reason for g, v in per.items() if isinstance(v, Undefined)}},
        metadata={"weighted": weights is not None},
    )
