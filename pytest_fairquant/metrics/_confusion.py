"""The vectorised core: per-group confusion tables from one ``bincount``, and rates on them.

Shared with :mod:`pytest_fairquant.stats`, which passes a resample index matrix and gets a
leading resample axis back, so a bootstrap is one ``bincount`` rather than a loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Keys per bincount when resampling: about 8 MB of int64, which stays in cache. Measured on
#: 1,000 resamples of 100,000 samples, chunks this size were 5-8x faster than one bincount
#: over all 10^8 keys (and memory stays bounded).
_MAX_KEYS_PER_CHUNK = 1 << 20


def confusion_tables(
    y_true: NDArray[np.integer[Any]],
    y_pred: NDArray[np.integer[Any]],
    codes: NDArray[np.integer[Any]],
    n_groups: int,
    n_classes: int,
    *,
    weights: NDArray[np.floating[Any]] | None = None,
    resamples: NDArray[np.integer[Any]] | None = None,
) -> NDArray[Any]:
    """Per-group confusion counts, rows the true class and columns the predicted one.

    ``y_true``/``y_pred`` are validated (n,) class ids, or (n, L) 0/1 indicators of a
    multi-label task (then ``n_classes`` is 2 and a label axis comes before the group axis).
    ``resamples`` is an optional (R, n) matrix of sample indices giving a leading R axis
    (one bincount per chunk of resamples, never a loop over samples).
    Shape: ``([R,] [L,] G, C, C)``; int64 counts, or float64 sums of ``weights``.
    """
    codes = np.asarray(codes, dtype=np.int64)
    cell = (y_true.astype(np.int64) * n_classes + y_pred) + (
        codes[:, None] if y_true.ndim == 2 else codes
    ) * (n_classes * n_classes)
    shape: tuple[int, ...] = (n_groups, n_classes, n_classes)
    if y_true.ndim == 2:
        n_labels = y_true.shape[1]
        cell = cell + np.arange(n_labels) * (n_groups * n_classes * n_classes)
        shape = (n_labels, *shape)
    size = int(np.prod(shape))
    if resamples is None:
        counts = np.bincount(cell.ravel(), weights=_spread(weights, cell), minlength=size)
        return counts.reshape(shape)
    resamples = np.asarray(resamples, dtype=np.int64)
    n_resamples = resamples.shape[0]
    per_row = max(1, resamples.shape[1] * (cell.size // max(1, len(cell))))
    chunk = max(1, _MAX_KEYS_PER_CHUNK // per_row)
    parts = []
    for start in range(0, n_resamples, chunk):
        rows = resamples[start : start + chunk]
        keys = cell[rows] + (np.arange(len(rows)) * size).reshape((-1,) + (1,) * (cell.ndim))
        w = None if weights is None else _spread(weights[rows], keys)
        parts.append(np.bincount(keys.ravel(), weights=w, minlength=len(rows) * size))
    return np.concatenate(parts).reshape((n_resamples, *shape))


def _spread(weights: NDArray[Any] | None, cell: NDArray[np.int64]) -> NDArray[np.float64] | None:
    """Weights broadcast over the label axis of a multi-label key array, flattened."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    return np.broadcast_to(w.reshape(w.shape + (1,) * (cell.ndim - w.ndim)), cell.shape).ravel()


def one_vs_rest(table: NDArray[Any]) -> dict[str, NDArray[Any]]:
    """TP, FP, FN, TN per class (one-vs-rest) from ``(..., C, C)`` tables: ``(..., C)`` each."""
    tp = np.diagonal(table, axis1=-2, axis2=-1)
    actual = table.sum(axis=-1)
    predicted = table.sum(axis=-2)
    total = actual.sum(axis=-1, keepdims=True)
    return {
        "tp": tp,
        "fp": predicted - tp,
        "fn": actual - tp,
        "tn": total - actual - predicted + tp,
    }


def rates(table: NDArray[Any]) -> dict[str, NDArray[np.float64]]:
    """Rates of ``(..., G, C, C)`` tables: ``accuracy (..., G)``, the others ``(..., G, C)``.

    One-vs-rest per class (binary: take ``[..., 1]`` for the positive class). A zero
    denominator gives NaN here; the public functions turn it into ``Undefined`` with a reason.
    """
    c = one_vs_rest(table)
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    total = table.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": np.divide(tp.sum(axis=-1), total, dtype=np.float64),
            "tpr": np.divide(tp, tp + fn, dtype=np.float64),
            "fpr": np.divide(fp, fp + tn, dtype=np.float64),
            "fnr": np.divide(fn, fn + tp, dtype=np.float64),
            "ppv": np.divide(tp, tp + fp, dtype=np.float64),
            "selection_rate": np.divide(tp + fp, total[..., None], dtype=np.float64),
        }


# --------------------------------------------------------------------------- per-group values
# The one metric engine: the per-group metrics and gaps of GroupReport (metrics.report), of the
# gap functions, of BA and of the gates' resampled tables (stats) all come from these.

#: The per-group metric a gap spreads (BA's favoured-group share of positives is a selection).
GAP_METRIC = {
    "fvo": "accuracy",
    "tpr": "tpr",
    "fpr": "fpr",
    "equalized_odds": "tpr",
    "demographic_parity": "selection_rate",
    "bias_amplification": "selection_rate",
}


def class_average(values: NDArray[np.float64], average: str) -> NDArray[np.float64]:
    """Per-class rates ``(..., C)`` as one value: the positive class (``"binary"``), or the mean
    over the classes where the rate is defined (``"macro"``; NaN when none is)."""
    if average == "binary":
        return values[..., 1]
    defined = ~np.isnan(values)
    count = defined.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.where(defined, values, 0.0).sum(axis=-1) / count, np.nan)


def table_metric(table: NDArray[Any], metric: str, average: str = "auto") -> NDArray[np.float64]:
    """Per-group ``metric`` of ``(..., G, C, C)`` tables, shape ``(..., G)``: accuracy, or a
    one-vs-rest rate of class 1 of a binary task and the macro average otherwise (``average``
    ``"auto"``; ``"binary"``/``"macro"`` to choose)."""
    values = rates(table)[metric]
    if metric == "accuracy":
        return values
    if average == "auto":
        average = "binary" if table.shape[-1] == 2 else "macro"
    return np.asarray(class_average(values, average), dtype=np.float64)


def spread(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Largest minus smallest value over the last (group) axis."""
    return np.asarray(values.max(axis=-1) - values.min(axis=-1), dtype=np.float64)


def table_ba(table: NDArray[Any], group: int) -> NDArray[np.float64]:
    """Paper 004's BA of binary ``(..., G, 2, 2)`` tables with identity ``group`` favoured:
    N(Â=1, I=g)/N(Â=1) − N(A=1, I=g)/N(A=1)."""
    predicted = table[..., :, :, 1].sum(axis=-1)
    actual = table[..., :, 1, :].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = predicted[..., group] / predicted.sum(axis=-1)
        return np.asarray(share - actual[..., group] / actual.sum(axis=-1), dtype=np.float64)


def table_gap(gap: str, table: NDArray[Any], ba_group: int = 1) -> NDArray[np.float64]:
    """The value of ``gap`` (a key of :data:`GAP_METRIC`) for ``(..., G, C, C)`` tables: the
    spread of its per-group metric over the groups (equalized odds: the larger of the TPR and
    FPR spreads; BA: :func:`table_ba`), shape ``(...)``."""
    if gap == "equalized_odds":
        return np.maximum(spread(table_metric(table, "tpr")), spread(table_metric(table, "fpr")))
    if gap == "bias_amplification":
        return table_ba(table, ba_group)
    return spread(table_metric(table, GAP_METRIC[gap]))
