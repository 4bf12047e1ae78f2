"""The distribution functions of ``stats/_dist.py`` (issue 14: ``scipy.stats`` cost a second
to import in every process) give what ``scipy.stats`` gives, including its edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from pytest_fairquant.stats import _dist
from pytest_fairquant.stats._decisions import paired_ttest


def test_normal_t_beta_and_binomial_functions_match_scipy_stats() -> None:
    z = np.array([-np.inf, -8.0, -1.5, 0.0, 0.3, 2.0, 9.0, np.inf, np.nan])
    np.testing.assert_allclose(_dist.norm_sf(z), sps.norm.sf(z), rtol=1e-14, equal_nan=True)
    for p in (1e-9, 0.01, 0.05, 0.5, 0.8, 0.999):
        assert _dist.norm_ppf(p) == pytest.approx(sps.norm.ppf(p), rel=1e-14)
        assert _dist.norm_isf(p) == pytest.approx(sps.norm.isf(p), rel=1e-14)
        for df in (1, 2, 7, 39, 500):
            assert _dist.t_ppf(p, df) == pytest.approx(sps.t.ppf(p, df), rel=1e-12)
    k = np.array([0.0, 1.0, 5.0, 30.0, 30.0])
    n = np.array([30.0, 30.0, 30.0, 30.0, 1000.0])
    for level in (0.025, 0.05, 0.975):
        with np.errstate(invalid="ignore", divide="ignore"):
            want = sps.beta.ppf(level, k, n - k + 1)
        got = _dist.beta_ppf(level, k, n - k + 1)
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    for harmed, m in [(0, 5), (1, 1), (3, 10), (10, 10), (60, 100), (501, 1000)]:
        want = sps.binomtest(harmed, m, 0.5, alternative="greater").pvalue
        assert _dist.binom_at_least(harmed, m, 0.5) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("margin", [0.0, 0.02])
def test_paired_ttest_matches_scipy(alternative: str, margin: float) -> None:
    rng = np.random.default_rng(3)
    for n in (2, 5, 40):
        base = rng.random(n)
        compressed = base + rng.normal(0.01, 0.05, n)
        got = paired_ttest(base, compressed, alpha=0.1, alternative=alternative, margin=margin)  # type: ignore[arg-type]
        want = sps.ttest_rel(compressed - margin, base, alternative=alternative)
        ci = sps.ttest_rel(compressed, base).confidence_interval(0.9)
        assert got.statistic == pytest.approx(want.statistic, rel=1e-12)
        assert got.p_value == pytest.approx(want.pvalue, rel=1e-10, abs=1e-300)
        assert got.df == want.df
        assert got.interval == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_one_sample_t_matches_scipy_and_its_degenerate_cases() -> None:
    drop = np.array([0.1, 0.3, 0.2, 0.25])
    want = sps.ttest_1samp(drop, 0.05, alternative="greater").pvalue
    assert _dist.ttest_1samp(drop, 0.05, "greater").p_value == pytest.approx(want, rel=1e-12)
    # No spread: scipy gives t = +-inf (p 0 or 1) off the null mean, NaN on it.
    same = np.full(4, 0.2)
    assert _dist.ttest_1samp(same, 0.1, "greater").p_value == 0.0
    assert _dist.ttest_1samp(same, 0.3, "greater").p_value == 1.0
    assert np.isnan(_dist.ttest_1samp(same, 0.2, "greater").p_value)


def test_precision_loss_is_scipys_own_test() -> None:
    """scipy warns "Precision loss" where the values equal their mean up to rounding; the
    paired t-test then calls the difference spreadless (the NaN p the callers read)."""
    base = np.array([0.1, 0.2, 0.3, 0.4])
    compressed = base + 0.05 + np.array([0.0, 1e-17, -1e-17, 0.0])
    with pytest.warns(RuntimeWarning, match="Precision loss"):
        sps.ttest_rel(compressed, base)
    assert _dist.precision_loss(compressed - base)
    assert np.isnan(paired_ttest(base, compressed).p_value)
    assert not _dist.precision_loss(np.array([0.05, 0.06, 0.05]))


def test_the_statistics_import_no_scipy_stats() -> None:
    import subprocess
    import sys

    code = "import sys, pytest_fairquant.stats; print('scipy.stats' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
