"""The few distribution functions the statistics need, from ``scipy.special``.

``scipy.stats`` costs about a second to import in every process (each xdist worker, each
``fairquant`` command); these are the same functions (``scipy.stats`` computes them with the
same special functions), and ``tests/test_stats_dist.py`` checks them against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import bdtrc, betaincinv, ndtr, ndtri, stdtr, stdtrit

Alternative = Literal["two-sided", "greater", "less"]


def norm_sf(z: Any) -> Any:
    """``scipy.stats.norm.sf``: P(Z > z)."""
    return ndtr(-np.asarray(z, dtype=np.float64))


def norm_ppf(p: float) -> float:
    """``scipy.stats.norm.ppf``."""
    return float(ndtri(p))


def norm_isf(p: float) -> float:
    """``scipy.stats.norm.isf``: the z with P(Z > z) = p."""
    return float(-ndtri(p))


def t_ppf(p: float, df: float) -> float:
    """``scipy.stats.t.ppf``."""
    return float(stdtrit(df, p))


def beta_ppf(q: Any, a: Any, b: Any) -> NDArray[np.float64]:
    """``scipy.stats.beta.ppf`` (NaN where a or b is not positive)."""
    return np.asarray(betaincinv(a, b, q), dtype=np.float64)


def binom_at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): ``scipy.stats.binomtest(k, n, p,
    alternative="greater").pvalue``."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return float(bdtrc(k - 1, n, p))


def _t_p_value(t: float, df: int, alternative: Alternative) -> float:
    if alternative == "greater":
        return float(stdtr(df, -t))
    if alternative == "less":
        return float(stdtr(df, t))
    return float(2.0 * stdtr(df, -abs(t)))


def precision_loss(values: NDArray[np.float64]) -> bool:
    """Whether the values are all equal to their mean up to rounding, where ``scipy.stats``
    warns of "Precision loss" (its moment calculation's own test): their spread is noise."""
    mean = float(np.mean(values))
    if mean == 0:
        return False
    return bool(np.max(np.abs(values - mean)) / abs(mean) < 10 * np.finfo(np.float64).eps)


@dataclass(frozen=True)
class OneSampleT:
    """``scipy.stats.ttest_1samp``'s statistic, p-value, degrees of freedom and the two-sided
    interval of the mean."""

    statistic: float
    p_value: float
    df: int
    mean: float
    standard_error: float

    def interval(self, level: float) -> tuple[float, float]:
        half = float(stdtrit(self.df, 0.5 + level / 2)) * self.standard_error
        return self.mean - half, self.mean + half


def ttest_1samp(
    values: Any, popmean: float = 0.0, alternative: Alternative = "two-sided"
) -> OneSampleT:
    """The one-sample t-test of H0 mean(values) = ``popmean`` (at least two values)."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    mean = float(np.mean(x))
    se = float(np.std(x, ddof=1)) / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = float(np.divide(mean - popmean, se))
    return OneSampleT(t, _t_p_value(t, n - 1, alternative), n - 1, mean, se)
