"""The tests that decide a gate: exact McNemar, a margin test on paired proportions, permutation
tests across groups and within pairs, paired t-tests over matched units, multiple-testing
corrections and power (minimum detectable effect, sample size).

The bootstrap only draws the intervals people read; a percentile bootstrap collapses for small
groups with few flips, so decisions come from these tests (../shared/METRICS.md, "Statistics").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from ..undefined import Undefined
from ._dist import binom_at_least, norm_isf, norm_ppf, norm_sf, precision_loss, ttest_1samp
from ._resample import PairedCells, TableStatistic

Correction = Literal["holm", "bonferroni", "bh", "none"]
CORRECTIONS: dict[str, str] = {
    "holm": "Holm step-down (family-wise error rate)",
    "bonferroni": "Bonferroni (family-wise error rate)",
    "bh": "Benjamini-Hochberg step-up (false discovery rate)",
    "none": "no correction",
}

MSG_CORRECTION = "correction must be one of {known}; got {got!r}"
MSG_UNITS = (
    "base_values and compressed_values must be matched units of the same length (>= 2); "
    "got {nb} and {nc}"
)


def _p_array(p_values: Sequence[float | None] | NDArray[Any]) -> NDArray[np.float64]:
    return np.array([np.nan if p is None else float(p) for p in p_values], dtype=np.float64)


def holm(p_values: Sequence[float | None] | NDArray[Any]) -> list[float]:
    """Holm's step-down adjusted p-values (plain Holm, not statsmodels' default Holm-Sidak).

    Missing (None/NaN) p-values stay NaN and do not count towards the family size.
    """
    p = _p_array(p_values)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return [float(v) for v in out]


def benjamini_hochberg(p_values: Sequence[float | None] | NDArray[Any]) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (controls the false discovery rate)."""
    p = _p_array(p_values)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, p[order] * m / np.arange(1, m + 1))
    out[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return [float(v) for v in out]


def bonferroni(p_values: Sequence[float | None] | NDArray[Any]) -> list[float]:
    p = _p_array(p_values)
    m = int(np.isfinite(p).sum())
    return [float(v) for v in np.minimum(1.0, p * m)]


def check_correction(correction: str) -> Correction:
    if correction not in CORRECTIONS:
        raise InputError(MSG_CORRECTION.format(known=", ".join(CORRECTIONS), got=correction))
    return correction  # type: ignore[return-value]


def adjust(p_values: Sequence[float | None] | NDArray[Any], correction: str) -> list[float]:
    """Adjusted p-values by the named method (``holm``, ``bonferroni``, ``bh``, ``none``)."""
    method = check_correction(correction)
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "bonferroni":
        return bonferroni(p_values)
    return [float(v) for v in _p_array(p_values)]


# --------------------------------------------------------------------------- per group


def mcnemar_one_sided(n_harmed: int, n_helped: int) -> float:
    """Exact one-sided McNemar: P(at least ``n_harmed`` of the discordant pairs are harms | p=½).

    Conditional on the discordant pairs, harms are Binomial(m, ½) when compression changes
    nothing but noise; with no discordant pair nothing speaks for harm (p = 1).
    """
    m = int(n_harmed) + int(n_helped)
    if m == 0:
        return 1.0
    return binom_at_least(int(n_harmed), m, 0.5)


def paired_drop_test(n_harmed: int, n_helped: int, n: int, tolerance: float) -> float:
    """One-sided p-value of "the paired drop (harmed − helped)/n exceeds ``tolerance``".

    ``tolerance == 0`` is the exact McNemar test. For a margin τ > 0 the null "drop ≤ τ" is
    composite, and the exact binomial no longer applies (it conditions on a null with equal harm
    and help). We use Tango's (1998) score test for paired proportions: the variance of the
    observed drop is evaluated at the restricted maximum-likelihood estimate on the boundary
    drop = τ, where the null is least favourable, so the test holds its level on the whole null
    asymptotically, and (unlike a Wald test) it does not collapse to p = 0 when a small group
    happens to show no help at all. At τ = 0 it reduces to McNemar's z, which is why the exact
    version is used there.
    """
    if tolerance == 0:
        return mcnemar_one_sided(n_harmed, n_helped)
    if tolerance >= 1:
        # A drop of accuracy cannot exceed 1: the null holds for every outcome.
        return 1.0
    b, c, big_n, d0 = float(n_harmed), float(n_helped), float(n), float(tolerance)
    a_coef = 2.0 * big_n
    b_coef = -b - c + (2.0 * big_n - b + c) * d0
    c_coef = -c * d0 * (1.0 - d0)
    p21 = (math.sqrt(b_coef * b_coef - 4.0 * a_coef * c_coef) - b_coef) / (2.0 * a_coef)
    variance = big_n * (2.0 * p21 + d0 * (1.0 - d0))
    z = (b - c - big_n * d0) / math.sqrt(variance)
    return float(norm_sf(z))


# --------------------------------------------------------------------------- across groups


@dataclass(frozen=True)
class PermutationResult:
    """A max-over-groups studentized permutation test of "some group lost more than the rest".

    ``statistic[g]`` is group g's Welch t of (rest's mean change − g's mean change − tolerance);
    ``p_value`` is the family-wise p of the maximum; ``p_group``/``p_adjusted`` per group are the
    raw and the single-step max-T (Westfall-Young) adjusted p-values.
    """

    statistic: NDArray[np.float64]
    p_value: float
    p_group: NDArray[np.float64]
    p_adjusted: NDArray[np.float64]
    n_permutations: int


def welch_harm(
    s0: NDArray[np.float64],
    s1: NDArray[np.float64],
    s2: NDArray[np.float64],
    ssq: NDArray[np.float64],
    tolerance: float = 0.0,
) -> NDArray[np.float64]:
    """Welch t of each group against the rest from per-group weighted sums of the change d.

    ``s0 = Σw``, ``s1 = Σw·d``, ``s2 = Σw·d²``, ``ssq = Σw²`` along the last (group) axis; the
    effective size is Kish's ``s0²/ssq`` (= n without weights).
    """
    r0, r1, r2 = (s.sum(axis=-1, keepdims=True) - s for s in (s0, s1, s2))
    rsq = ssq.sum(axis=-1, keepdims=True) - ssq
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_g, mean_r = s1 / s0, r1 / r0
        n_g, n_r = s0 * s0 / ssq, r0 * r0 / rsq
        var_g = np.maximum(s2 / s0 - mean_g**2, 0.0) * n_g / (n_g - 1)
        var_r = np.maximum(r2 / r0 - mean_r**2, 0.0) * n_r / (n_r - 1)
        se = np.sqrt(var_g / n_g + var_r / n_r)
        numerator = mean_r - mean_g - tolerance
        t = numerator / se
    # Without spread in either group the sign of the difference is all the evidence there is.
    signed_inf = np.where(numerator > 0, np.inf, np.where(numerator < 0, -np.inf, 0.0))
    return np.where(se > 0, t, signed_inf).astype(np.float64)


def permutation_gap_test(
    change: NDArray[Any],
    codes: NDArray[np.int64],
    n_groups: int,
    *,
    tolerance: float = 0.0,
    n_permutations: int = 1999,
    seed: int = 0,
    weights: NDArray[np.float64] | None = None,
) -> PermutationResult:
    """Permutation test of group labels over the per-sample change ``d_i`` (compressed − dense).

    The statistic is the maximum over groups of the Welch-studentized harm of a group relative
    to the rest, so one p-value holds the false-alarm rate over all groups at once; p =
    (c + 1)/(R + 1). Unweighted changes in {−1, 0, 1} are permuted exactly through their
    counts: a random relabelling deals each group a multivariate hypergeometric share of the
    three values, drawn for all permutations at once in O(R·G). Weighted changes are permuted
    sample by sample in chunks.

    With ``tolerance`` τ > 0 the observed statistic is shifted by τ and compared with the
    unshifted permutation distribution. Studentized permutation tests of a mean difference are
    asymptotically valid even when the groups' variances differ (Janssen 1997; Chung & Romano
    2013), because the Welch t is asymptotically pivotal; on the null "every group's relative
    harm is ≤ τ" the shifted statistic is at most that pivot, so the level holds there too.
    """
    rng = np.random.default_rng(seed)
    change = np.asarray(change, dtype=np.float64)
    w = np.ones(len(change)) if weights is None else np.asarray(weights, dtype=np.float64)

    def sums(group_of: NDArray[np.int64], rows: int) -> tuple[NDArray[np.float64], ...]:
        keys = (group_of + (np.arange(rows) * n_groups)[:, None]).ravel()
        size = rows * n_groups

        def total(values: NDArray[np.float64]) -> NDArray[np.float64]:
            flat = np.broadcast_to(values, group_of.shape).ravel()
            sums = np.bincount(keys, weights=flat, minlength=size).astype(np.float64)
            return sums.reshape(rows, n_groups)

        return total(w), total(w * change), total(w * change**2), total(w * w)

    s0, s1, s2, ssq = (s[0] for s in sums(codes[None, :], 1))
    observed = welch_harm(s0, s1, s2, ssq, tolerance=tolerance)
    if weights is None and np.isin(change, (-1.0, 0.0, 1.0)).all():
        null = _hypergeometric_null(change, codes, n_groups, n_permutations, rng)
    else:
        parts = []
        chunk = max(1, (1 << 22) // max(1, len(change)))
        for start in range(0, n_permutations, chunk):
            rows = min(chunk, n_permutations - start)
            shuffled = rng.permuted(np.broadcast_to(codes, (rows, len(codes))), axis=1)
            p0, p1, p2, psq = sums(shuffled, rows)
            parts.append(welch_harm(p0, p1, p2, psq))
        null = np.concatenate(parts)
    null = np.where(np.isnan(null), -np.inf, null)
    best = null.max(axis=1)
    obs = np.where(np.isnan(observed), -np.inf, observed)
    r1 = n_permutations + 1
    p_group = (1 + (null >= obs).sum(axis=0)) / r1
    p_adjusted = (1 + (best[:, None] >= obs).sum(axis=0)) / r1
    return PermutationResult(observed, float(p_adjusted.min()), p_group, p_adjusted, n_permutations)


def _hypergeometric_null(
    change: NDArray[np.float64],
    codes: NDArray[np.int64],
    n_groups: int,
    n_permutations: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Welch harm statistics of random relabellings, dealt through value counts per group."""
    sizes = np.bincount(codes, minlength=n_groups)
    values = np.array([-1.0, 0.0, 1.0])
    remaining = np.tile([(change == v).sum() for v in values], (n_permutations, 1))
    dealt = np.zeros((n_permutations, n_groups, 3), dtype=np.int64)
    for g in range(n_groups - 1):
        left = np.full(n_permutations, sizes[g])
        for v in range(2):
            others = remaining[:, v + 1 :].sum(axis=1)
            got = rng.hypergeometric(remaining[:, v], others, left)
            dealt[:, g, v] = got
            remaining[:, v] -= got
            left = left - got
        dealt[:, g, 2] = left
        remaining[:, 2] -= left
    dealt[:, -1] = remaining
    s0 = dealt.sum(axis=2).astype(np.float64)
    s1 = (dealt @ values).astype(np.float64)
    s2 = (dealt @ values**2).astype(np.float64)
    return welch_harm(s0, s1, s2, s0)


def swap_permutation_test(
    cells: PairedCells,
    amplification: TableStatistic,
    *,
    tolerance: float = 0.0,
    n_permutations: int = 1999,
    seed: int = 0,
) -> float:
    """Paired exchange test of any gap: swap dense and compressed predictions within samples.

    When compression changes nothing but noise, each sample's two predictions are exchangeable,
    so swapping them at random gives the null distribution of the amplification exactly. A
    swap only matters for discordant samples; per unit the number swapped is Binomial(count, ½),
    so all permutations come from one vectorised draw. p = (c + 1)/(R + 1) where c counts
    permuted amplifications ≥ the observed one minus ``tolerance`` (undefined ones count
    against the model). The shift by τ > 0 assumes the amplification's spread does not depend
    on its size (a location-shift approximation); it is exact at τ = 0.
    """
    rng = np.random.default_rng(seed)
    observed = float(np.asarray(amplification(*cells.point_tables())))
    swapped = PairedCells(
        cells.n_groups,
        cells.n_classes,
        np.concatenate([cells.group, cells.group]),
        np.concatenate([cells.base_key, cells.compressed_key]),
        np.concatenate([cells.compressed_key, cells.base_key]),
        np.concatenate([cells.count, cells.count]),
        None if cells.weight is None else np.concatenate([cells.weight, cells.weight]),
        cells.group_size,
    )
    exceed = 0
    chunk = max(1, (1 << 22) // max(1, cells.n_units))
    for start in range(0, n_permutations, chunk):
        rows = min(chunk, n_permutations - start)
        moved = rng.binomial(cells.count, 0.5, size=(rows, cells.n_units))
        null = np.asarray(amplification(*swapped.tables(np.hstack([cells.count - moved, moved]))))
        exceed += int((~(null < observed - tolerance)).sum())
    return (exceed + 1) / (n_permutations + 1)


# --------------------------------------------------------------------------- matched units


@dataclass(frozen=True)
class TTestResult:
    """A paired t-test of compressed − base over matched units, with the mean's t interval."""

    statistic: float
    p_value: float
    df: int
    mean_difference: float
    interval: tuple[float, float]
    alternative: str


def paired_ttest(
    base: Any,
    compressed: Any,
    *,
    alpha: float = 0.05,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    margin: float = 0.0,
) -> TTestResult:
    """``scipy.stats.ttest_rel(compressed - margin, base)``: H0 mean(compressed − base) = margin.

    ``interval`` is the two-sided ``1 - alpha`` t interval of the mean difference (without the
    margin), whatever the alternative.
    """
    b = np.asarray(base, dtype=np.float64)
    c = np.asarray(compressed, dtype=np.float64)
    if b.ndim != 1 or b.shape != c.shape or len(b) < 2:
        raise InputError(MSG_UNITS.format(nb=np.shape(b), nc=np.shape(c)))
    diff = c - b
    shifted = (c - margin) - b
    if np.ptp(diff) == 0 or precision_loss(shifted) or precision_loss(diff):
        # Every unit moved by the same amount (up to rounding): no spread, so no t statistic.
        # scipy would warn and return noise; callers read the NaN p as "the mean decides".
        mean = float(np.mean(diff))
        nan = Undefined(
            "zero_denominator",
            f"every unit changed by {mean:.6g}: the differences have no spread",
        )
        return TTestResult(nan, nan, len(b) - 1, mean, (mean, mean), alternative)
    res = ttest_1samp(shifted, 0.0, alternative)
    ci = ttest_1samp(diff).interval(1 - alpha)
    return TTestResult(res.statistic, res.p_value, res.df, float(np.mean(diff)), ci, alternative)


# --------------------------------------------------------------------------- power


def _z_sum(alpha: float, power: float, tests: int) -> float:
    return norm_isf(alpha / max(1, tests)) + norm_ppf(power)


def minimum_detectable_effect(
    n: float, *, variance: float, alpha: float = 0.05, power: float = 0.8, tests: int = 1
) -> float:
    """Smallest mean change a one-sided z test at ``alpha`` (Bonferroni over ``tests``) detects
    with probability ``power`` from ``n`` paired samples whose change has ``variance``."""
    if n <= 0:
        return math.inf
    return _z_sum(alpha, power, tests) * math.sqrt(variance / n)


def required_sample_size(
    effect: float, *, variance: float, alpha: float = 0.05, power: float = 0.8, tests: int = 1
) -> int | None:
    """Samples for which :func:`minimum_detectable_effect` equals ``effect`` (None if effect ≤ 0)."""
    if effect <= 0:
        return None
    return max(2, math.ceil(variance * (_z_sum(alpha, power, tests) / effect) ** 2))
