"""Confidence bounds that decide a pass: a gate passes only when the data rule out harm.

A pass is an equivalence-style claim ("the change of the gap is at most the tolerance"), so it
needs an upper confidence bound of the change that is valid at small n and with no observed
flips. A percentile bootstrap is not: a group whose samples never changed resamples to an
interval of exactly [0, 0]. The bounds here are

- per group (and class), the paired change of a rate δ = (up − down)/n, bounded by inverting
  Tango's (1998) score test for paired proportions: with no discordant pair the bound is
  z²/(n + z²), not 0;
- per group, the dense model's own rate, bounded by Clopper-Pearson (exact).

A gap's change is then bounded by its supremum over the box these bounds make. For a spread
(max − min over groups) the change is at most ``max_k,j [U_k − L_j − shortfall]``, where
``U_k`` is group k's upper change bound, ``L_j`` group j's lower one, and the shortfall how far
the dense rates' bounds keep k from being the best group or j from being the worst (a middle
group's loss cannot widen the gap). This bounds the population gap's change (the true rates
before and after), not only the one on this evaluation set.

Levels (the intersection-union principle: a gate passes only when *every* part of its claim
holds, so a false pass needs the one part that is false to pass): if the true change exceeds
the tolerance, it does so through one pair (k, j) of groups, and the bound misses it only when
U_k or L_j misses (alpha/4 each, over the classes of a macro average) or one of the dense
rates' bounds does (alpha/2 over all of them). ``accuracy_drop`` passes when every group's own
harm bound is within the tolerance: each at alpha. Equalized odds passes when both its TPR and
its FPR spread do: each at the full level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from ._dist import beta_ppf
from ._resample import PairedCells

#: Bisection steps of the score-bound inversion: 2^-42 of the unit interval.
_BISECT = 42


def tango_z(
    up: NDArray[np.float64], down: NDArray[np.float64], n: NDArray[np.float64], delta: NDArray[Any]
) -> NDArray[np.float64]:
    """Tango's score statistic of H0 "the paired change (up − down)/n equals ``delta``".

    The variance is evaluated at the maximum-likelihood cell probabilities restricted to the
    null (closed form, Tango 1998, eq. 3), so the statistic stays finite with no discordant
    pairs. Decreasing in ``delta``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 2.0 * n
        b = -up - down + (2.0 * n - up + down) * delta
        c = -down * delta * (1.0 - delta)
        p_down = (np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0)) - b) / (2.0 * a)
        variance = n * (2.0 * p_down + delta * (1.0 - delta))
        z = (up - down - n * delta) / np.sqrt(variance)
    diff = up - down - n * delta
    signed = np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0))
    return np.where(variance > 0, z, signed).astype(np.float64)


def tango_variance(
    up: NDArray[np.float64], down: NDArray[np.float64], n: NDArray[np.float64], delta: float
) -> NDArray[np.float64]:
    """Per-sample variance of the paired change at ``delta`` under Tango's restricted MLE."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 2.0 * n
        b = -up - down + (2.0 * n - up + down) * delta
        c = -down * delta * (1.0 - delta)
        p_down = (np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0)) - b) / (2.0 * a)
    return np.asarray(np.where(n > 0, 2.0 * p_down + delta * (1.0 - delta), np.nan))


def change_bounds(
    up: NDArray[np.float64], down: NDArray[np.float64], n: NDArray[np.float64], z: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One-sided score bounds (each at the level whose normal quantile is ``z``) of the paired
    change (up − down)/n of a proportion; [−1, 1] where n is 0."""
    up, down, n = (np.asarray(v, dtype=np.float64) for v in (up, down, n))
    safe = np.maximum(n, 1e-300)
    point = np.clip((up - down) / safe, -1.0, 1.0)

    def solve(lo: NDArray[np.float64], hi: NDArray[np.float64], target: float) -> NDArray[Any]:
        # z(delta) decreases in delta; find where it crosses target.
        for _ in range(_BISECT):
            mid = (lo + hi) / 2
            above = tango_z(up, down, safe, mid) > target
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return (lo + hi) / 2

    one = np.ones_like(point)
    high = solve(point.copy(), one.copy(), -z)
    low = solve(-one.copy(), point.copy(), z)
    empty = n <= 0
    return np.where(empty, -1.0, low), np.where(empty, 1.0, high)


def proportion_bounds(
    successes: NDArray[np.float64], n: NDArray[np.float64], level: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Clopper-Pearson one-sided bounds, each holding with probability ≥ 1 − ``level``."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, beta_ppf(level, k, n - k + 1), 0.0)
        high = np.where(k < n, beta_ppf(1 - level, k + 1, n - k), 1.0)
    empty = n <= 0
    return (
        np.where(empty, 0.0, np.nan_to_num(low, nan=0.0)),
        np.where(empty, 1.0, np.nan_to_num(high, nan=1.0)),
    )


@dataclass(frozen=True)
class UnitCounts:
    """Per (group, class) sufficient statistics of one rate for the pass bound.

    ``n`` samples in the rate's denominator, ``base`` of them counted by the dense model,
    ``up`` counted only by the compressed model, ``down`` only by the dense one; shape ``(G, K)``
    with ``K = 1`` for accuracy and binary rates (class 1), else one column per class. With
    sample weights these are effective (Kish) counts.
    """

    metric: str
    n: NDArray[np.float64]
    base: NDArray[np.float64]
    up: NDArray[np.float64]
    down: NDArray[np.float64]

    @property
    def defined(self) -> NDArray[np.bool_]:
        return np.asarray(self.n > 0)

    def scaled(self, factor: float) -> UnitCounts:
        """The same rates on ``factor`` times as many samples (for sample-size answers)."""
        return UnitCounts(
            self.metric, self.n * factor, self.base * factor, self.up * factor, self.down * factor
        )


def unit_counts(cells: PairedCells, metric: str) -> UnitCounts:
    """:class:`UnitCounts` of ``metric`` (accuracy, tpr, fnr, fpr, selection_rate) from the
    paired cells, matching :func:`~pytest_fairquant.stats.group_metric`'s classes."""
    c = cells.n_classes
    y = (cells.base_key // c) % c
    pb, pc = cells.base_key % c, cells.compressed_key % c
    if metric == "accuracy":
        member = np.ones((cells.n_units, 1), dtype=bool)
        ind_b, ind_c = (pb == y)[:, None], (pc == y)[:, None]
    else:
        classes = np.array([1]) if c == 2 else np.arange(c)
        is_class = y[:, None] == classes[None, :]
        member = (
            ~is_class
            if metric == "fpr"
            else (np.ones_like(is_class) if metric == "selection_rate" else is_class)
        )
        ind_b, ind_c = pb[:, None] == classes[None, :], pc[:, None] == classes[None, :]
        if metric == "fnr":
            ind_b, ind_c = ~ind_b, ~ind_c
    w = cells.count.astype(np.float64) if cells.weight is None else cells.weight
    wsq = cells.count.astype(np.float64) if cells.weight is None else cells.weight**2

    def total(mask: NDArray[np.bool_], values: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.zeros((cells.n_groups, mask.shape[1]))
        np.add.at(out, cells.group, np.where(mask & member, values[:, None], 0.0))
        return out

    s0, ssq = total(member, w), total(member, wsq)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = np.where(ssq > 0, s0 * s0 / ssq, 0.0)
        scale = np.where(s0 > 0, n_eff / s0, 0.0)
    return UnitCounts(
        metric,
        n_eff,
        total(ind_b, w) * scale,
        total(~ind_b & ind_c, w) * scale,
        total(ind_b & ~ind_c, w) * scale,
    )


def _macro(values: NDArray[np.float64], defined: NDArray[np.bool_]) -> NDArray[np.float64]:
    count = defined.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(defined, values, 0.0).sum(axis=-1) / count)


@dataclass(frozen=True)
class GroupBounds:
    """Simultaneous bounds per group: the dense rate and its change (macro over classes)."""

    base_low: NDArray[np.float64]
    base_high: NDArray[np.float64]
    change_low: NDArray[np.float64]
    change_high: NDArray[np.float64]


def group_bounds(counts: UnitCounts, z_change: float, z_base: float) -> GroupBounds:
    """Bounds of every group's change (each one-sided at the level whose normal quantile is
    ``z_change``) and of its dense rate (at ``z_base``), macro-averaged over classes."""
    defined = counts.defined
    b_lo, b_hi = proportion_bounds(counts.base, counts.n, float(ndtr(-z_base)))
    d_lo, d_hi = change_bounds(counts.up, counts.down, counts.n, z_change)
    return GroupBounds(*(_macro(v, defined) for v in (b_lo, b_hi, d_lo, d_hi)))


def spread_change_bound(bounds: GroupBounds) -> float:
    """Upper bound of the change of max_g − min_g of the rate over the box of ``bounds``.

    For every pair (k, j): the gap can grow by at most U_k − L_j, and only as far as k can be
    the best group and j the worst one under the dense rates' bounds; rates stay in [0, 1].
    """
    g = len(bounds.base_low)
    hi_base, lo_base = bounds.base_high, bounds.base_low
    best = np.full(g, -np.inf)
    worst = np.full(g, np.inf)
    for k in range(g):
        others = np.delete(np.arange(g), k)
        best[k] = min(0.0, hi_base[k] - lo_base[others].max()) if g > 1 else 0.0
        worst[k] = min(0.0, hi_base[others].min() - lo_base[k]) if g > 1 else 0.0
    # Rates stay in [0, 1]: a group cannot gain more than 1 − its rate or lose more than it has.
    up = np.minimum(bounds.change_high, 1.0 - lo_base)
    down = np.maximum(bounds.change_low, -hi_base)
    pairs = up[:, None] - down[None, :] + best[:, None] + worst[None, :]
    np.fill_diagonal(pairs, -np.inf)
    if g < 2:
        return 0.0
    # k = j: the gap cannot fall below 0, so it changes by at least −(its smallest value).
    smallest_gap = max(0.0, float(lo_base.max() - hi_base.min()))
    return float(max(pairs.max(), -smallest_gap))


def harm_bound(bounds: GroupBounds, lower_is_better: bool) -> NDArray[np.float64]:
    """Upper bound of each group's harm (its loss, or its rise for an error rate)."""
    return bounds.change_high if lower_is_better else -bounds.change_low


def detectable(variance: float, n: float, z_alpha: float, z_power: float) -> float:
    """The effect a one-sided test at ``z_alpha`` finds with the power of ``z_power``."""
    if n <= 0 or not math.isfinite(variance):
        return math.inf
    return (z_alpha + z_power) * math.sqrt(max(variance, 0.0) / n)
