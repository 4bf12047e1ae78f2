"""Per-group reductions of per-sample values (means, calibration bins, ROC-AUC), vectorised.

Each returns ``([L,] G + 1)`` arrays: one column per group and a last column for all samples,
so a report gets its groups and its overall value from the same ``bincount``. Values are NaN
where undefined; callers attach the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

#: Paper 004 counts a prediction as uncertain when its probability is strictly inside these.
UNCERTAIN_BETWEEN = (0.1, 0.9)


def _keys(
    codes: NDArray[np.int64], values: NDArray[Any], n_groups: int
) -> tuple[NDArray[np.int64], int]:
    """Group keys broadcast over a label axis (values of shape (n, L)), with the label stride."""
    if values.ndim == 1:
        return codes, 1
    n_labels = values.shape[1]
    return codes[:, None] + np.arange(n_labels) * n_groups, n_labels


def _per_entry(weights: Floats | None, shape: tuple[int, ...]) -> Floats:
    """Sample weights broadcast to (n,) or (n, L) values; ones when unweighted."""
    if weights is None:
        return np.ones(shape)
    return np.broadcast_to(weights.reshape((-1,) + (1,) * (len(shape) - 1)), shape)


def _with_overall(per_group: Floats) -> Floats:
    return np.concatenate([per_group, per_group.sum(axis=-1, keepdims=True)], axis=-1)


def group_sums(
    values: NDArray[Any], codes: NDArray[np.int64], n_groups: int, weights: Floats | None
) -> tuple[Floats, Floats]:
    """Weighted sums of ``values`` (n,) or (n, L) and the weight per group, with overall."""
    keys, n_labels = _keys(codes, values, n_groups)
    w = _per_entry(weights, values.shape)
    size = n_labels * n_groups
    sums = np.bincount(keys.ravel(), weights=(w * values).ravel(), minlength=size).astype(
        np.float64
    )
    totals = np.bincount(keys.ravel(), weights=w.ravel(), minlength=size).astype(np.float64)
    shape = (n_groups,) if values.ndim == 1 else (n_labels, n_groups)
    return _with_overall(sums.reshape(shape)), _with_overall(totals.reshape(shape))


def group_mean(
    values: NDArray[Any], codes: NDArray[np.int64], n_groups: int, weights: Floats | None
) -> Floats:
    sums, totals = group_sums(values, codes, n_groups, weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums / totals


def uncertain(probability: Floats) -> Floats:
    low, high = UNCERTAIN_BETWEEN
    return ((probability > low) & (probability < high)).astype(np.float64)


def calibration_bins(confidence: Floats, n_bins: int) -> NDArray[np.int64]:
    """Bin b holds [b/n_bins, (b+1)/n_bins); the last bin is closed so that p = 1.0 falls in it."""
    return np.minimum(np.floor(confidence * n_bins).astype(np.int64), n_bins - 1)


def group_ece(
    correct: NDArray[Any],
    confidence: Floats,
    codes: NDArray[np.int64],
    n_groups: int,
    n_bins: int,
    weights: Floats | None,
) -> Floats:
    """Σ_b (n_b/N)·|acc_b − conf_b| per group, i.e. Σ_b |Σ_{i∈b} (correct_i − conf_i)| / N."""
    bins = calibration_bins(confidence, n_bins)
    keys, n_labels = _keys(codes, confidence, n_groups)
    keys = keys * n_bins + bins
    gap = _per_entry(weights, confidence.shape) * (correct - confidence)
    size = n_labels * n_groups * n_bins
    per_bin = np.bincount(keys.ravel(), weights=gap.ravel(), minlength=size)
    shape = (n_groups, n_bins) if confidence.ndim == 1 else (n_labels, n_groups, n_bins)
    per_bin = per_bin.reshape(shape)
    numer = np.abs(per_bin).sum(axis=-1)
    overall = np.abs(per_bin.sum(axis=-2)).sum(axis=-1, keepdims=True)
    _, totals = group_sums(confidence, codes, n_groups, weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.concatenate([numer, overall], axis=-1) / totals


def group_auc(
    positive: NDArray[Any],
    score: Floats,
    codes: NDArray[np.int64],
    n_groups: int,
    weights: Floats | None,
) -> Floats:
    """Weighted ROC-AUC (Mann-Whitney, ties count half) of one binary task per group, with overall.

    One sort by score serves all groups: a stable sort of the sorted samples by group keeps the
    score order within each group.
    """
    w = np.ones(len(codes)) if weights is None else weights
    by_score = np.argsort(score, kind="stable")
    by_group = by_score[np.argsort(codes[by_score], kind="stable")]
    per_group = _sorted_auc(positive, score, codes, n_groups, w, by_group)
    overall = _sorted_auc(positive, score, np.zeros_like(codes), 1, w, by_score)
    return np.concatenate([per_group, overall])


def _sorted_auc(
    positive: NDArray[Any],
    score: Floats,
    codes: NDArray[np.int64],
    n_groups: int,
    weights: Floats,
    order: NDArray[np.intp],
) -> Floats:
    """AUC per group from samples ordered by (group, score): each block of tied scores adds its
    positive weight times (negative weight ranked below it + half the tied negative weight)."""
    g, s = codes[order], score[order]
    pos = positive[order].astype(np.float64)
    w = weights[order]
    starts = np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])]
    block = np.cumsum(starts) - 1
    w_pos = np.bincount(block, weights=w * pos)
    w_neg = np.bincount(block, weights=w * (1.0 - pos))
    block_group = g[starts]
    neg_before = np.cumsum(w_neg) - w_neg
    first_block = np.r_[True, block_group[1:] != block_group[:-1]]
    group_offset = np.zeros(n_groups)
    group_offset[block_group[first_block]] = neg_before[first_block]
    below = neg_before - group_offset[block_group]
    numer = np.bincount(block_group, weights=w_pos * (below + 0.5 * w_neg), minlength=n_groups)
    total_pos = np.bincount(block_group, weights=w_pos, minlength=n_groups)
    total_neg = np.bincount(block_group, weights=w_neg, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(numer / (total_pos * total_neg), dtype=np.float64)
