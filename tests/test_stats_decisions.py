"""The deciding tests: McNemar, Tango's margin test, permutation tests, t-tests, corrections, power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy import stats as sps

from pytest_fairquant.stats import (
    MSG_CORRECTION,
    MSG_UNITS,
    PairedCells,
    adjust,
    benjamini_hochberg,
    group_metric,
    holm,
    mcnemar_one_sided,
    minimum_detectable_effect,
    paired_drop_test,
    paired_ttest,
    permutation_gap_test,
    required_sample_size,
    swap_permutation_test,
)
from pytest_fairquant.undefined import reason_of


def test_mcnemar_is_the_binomial_tail_of_the_discordant_pairs() -> None:
    # 8 harmed, 2 helped: P(X >= 8 | Bin(10, 1/2)) = (45 + 10 + 1) / 1024.
    assert mcnemar_one_sided(8, 2) == pytest.approx(56 / 1024, abs=1e-15)
    assert mcnemar_one_sided(0, 3) == 1.0
    assert mcnemar_one_sided(0, 0) == 1.0
    assert mcnemar_one_sided(5, 0) == pytest.approx(1 / 32, abs=1e-15)


def test_drop_test_at_zero_tolerance_is_exact_mcnemar() -> None:
    assert paired_drop_test(8, 2, 100, 0.0) == mcnemar_one_sided(8, 2)


def test_tango_statistic_uses_the_restricted_mle() -> None:
    harmed, helped, n, tau = 30, 10, 400, 0.02

    def negloglik(p21: float) -> float:
        p12 = p21 + tau
        return -(
            harmed * math.log(p12)
            + helped * math.log(p21)
            + (n - harmed - helped) * math.log(1 - p12 - p21)
        )

    p21 = optimize.minimize_scalar(
        negloglik, bounds=(1e-9, (1 - tau) / 2 - 1e-9), method="bounded", options={"xatol": 1e-12}
    ).x
    z = (harmed - helped - n * tau) / math.sqrt(n * (2 * p21 + tau * (1 - tau)))
    assert paired_drop_test(harmed, helped, n, tau) == pytest.approx(sps.norm.sf(z), rel=1e-6)


def test_tango_holds_its_level_on_the_null_boundary() -> None:
    # True drop exactly at the margin (p_harm − p_help = τ); rejections at 5% stay near 5%.
    rng = np.random.default_rng(0)
    n, tau, p_help = 300, 0.03, 0.04
    draws = rng.multinomial(n, [p_help + tau, p_help, 1 - 2 * p_help - tau], size=2000)
    rejected = np.mean([paired_drop_test(h, k, n, tau) < 0.05 for h, k, _ in draws])
    assert 0.02 <= rejected <= 0.075


def test_tango_rejects_a_drop_well_beyond_the_margin() -> None:
    assert paired_drop_test(60, 5, 500, 0.02) < 1e-4
    assert paired_drop_test(12, 5, 500, 0.02) > 0.5  # observed drop 0.014 < margin


def _null_changes(
    rng: np.random.Generator, sizes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    codes = np.repeat(np.arange(len(sizes)), sizes)
    change = rng.choice([-1.0, 0.0, 1.0], size=len(codes), p=[0.03, 0.94, 0.03])
    return change, codes


def test_permutation_test_null_rejection_rate_is_near_alpha() -> None:
    rng = np.random.default_rng(1)
    p = [
        permutation_gap_test(
            *_null_changes(rng, (400, 150, 60)), 3, n_permutations=199, seed=k
        ).p_value
        for k in range(300)
    ]
    rate = np.mean(np.asarray(p) < 0.05)
    # 300 runs: a binomial 95% interval around 0.05 is about [0.028, 0.08].
    assert 0.02 <= rate <= 0.09


def test_permutation_test_detects_a_harmed_group_and_names_it() -> None:
    rng = np.random.default_rng(2)
    change, codes = _null_changes(rng, (2000, 500))
    harmed = np.flatnonzero(codes == 1)[:60]
    change[harmed] = -1.0
    result = permutation_gap_test(change, codes, 2, n_permutations=499, seed=0)
    assert result.p_value == pytest.approx(1 / 500)
    assert result.p_adjusted[1] == pytest.approx(1 / 500)
    assert result.p_adjusted[0] > 0.5
    assert result.statistic[1] > result.statistic[0]


def test_exact_count_permutations_agree_with_sample_permutations() -> None:
    rng = np.random.default_rng(3)
    change, codes = _null_changes(rng, (300, 120, 80))
    change[np.flatnonzero(codes == 2)[:6]] = -1.0
    counts = permutation_gap_test(change, codes, 3, n_permutations=4000, seed=0)
    samples = permutation_gap_test(
        change, codes, 3, n_permutations=4000, seed=0, weights=np.ones(len(codes))
    )
    # Two Monte-Carlo estimates of the same p (≈0.05) from 4,000 permutations each.
    assert abs(counts.p_value - samples.p_value) < 0.02


def test_tolerance_makes_the_permutation_test_more_lenient() -> None:
    rng = np.random.default_rng(4)
    change, codes = _null_changes(rng, (800, 300))
    change[np.flatnonzero(codes == 1)[:20]] = -1.0
    strict = permutation_gap_test(change, codes, 2, n_permutations=999, seed=0).p_value
    lenient = permutation_gap_test(
        change, codes, 2, tolerance=0.05, n_permutations=999, seed=0
    ).p_value
    assert strict < 0.05 < lenient


def test_swap_test_is_uninformative_for_identical_models_and_strong_for_a_real_gap() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    groups = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.9, y, 1 - y)
    comp = base.copy()
    cells = PairedCells.build(y, base, comp, groups, 2, 2)

    def tpr_change(tb: np.ndarray, tc: np.ndarray) -> np.ndarray:
        def gap(t: np.ndarray) -> np.ndarray:
            v = group_metric(t, "tpr")
            return v.max(-1) - v.min(-1)

        return gap(tc) - gap(tb)

    assert swap_permutation_test(cells, tpr_change, n_permutations=99) == 1.0
    hurt = (groups == 1) & (y == 1) & (base == 1) & (rng.random(n) < 0.3)
    comp[hurt] = 0
    cells = PairedCells.build(y, base, comp, groups, 2, 2)
    assert swap_permutation_test(cells, tpr_change, n_permutations=199) == pytest.approx(1 / 200)


def test_holm_and_bh_on_a_known_table() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1, made monotone.
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    # BH: sorted 0.005·4/1, 0.01·4/2, 0.03·4/3, 0.04·4/4, minimum from the top.
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])
    np.testing.assert_allclose(adjust(p, "none"), p)


def test_missing_p_values_do_not_count_towards_the_family() -> None:
    out = holm([0.01, None, float("nan"), 0.02])
    assert out[0] == pytest.approx(0.02) and out[3] == pytest.approx(0.02)
    assert math.isnan(out[1]) and math.isnan(out[2])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_and_bh_match_their_definitions(p: list[float]) -> None:
    m = len(p)
    order = np.argsort(p, kind="stable")
    ranked = np.asarray(p)[order]
    holm_ref = np.maximum.accumulate([min(1.0, (m - i) * ranked[i]) for i in range(m)])
    bh_ref = [min(min(1.0, ranked[j] * m / (j + 1)) for j in range(i, m)) for i in range(m)]
    np.testing.assert_allclose(np.asarray(holm(p))[order], holm_ref, atol=1e-15)
    np.testing.assert_allclose(np.asarray(benjamini_hochberg(p))[order], bh_ref, atol=1e-15)


def test_unknown_correction_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="correction must be one of holm, bonferroni, bh, none"):
        adjust([0.1], "holm-sidak")
    assert "{known}" in MSG_CORRECTION


def test_paired_ttest_wraps_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(6)
    base = rng.normal(0, 1, 30)
    comp = base + rng.normal(0.2, 0.5, 30)
    ours = paired_ttest(base, comp, alpha=0.1)
    ref = sps.ttest_rel(comp, base)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    ci = ref.confidence_interval(0.9)
    assert ours.interval == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert ours.mean_difference == pytest.approx(np.mean(comp - base), rel=1e-12)
    margin = paired_ttest(base, comp, alternative="greater", margin=0.1)
    assert margin.p_value == pytest.approx(
        sps.ttest_rel(comp - 0.1, base, alternative="greater").pvalue
    )


def test_paired_ttest_without_spread_is_undefined_not_noise() -> None:
    base = np.array([0.2, 0.4, 0.6, 0.8])
    result = paired_ttest(base, base + 0.3)  # 0.3 is not exact in binary: tiny rounding spread
    assert math.isnan(result.p_value) and math.isnan(result.statistic)
    assert reason_of(result.p_value) == "zero_denominator"
    assert result.mean_difference == pytest.approx(0.3)
    assert result.interval == pytest.approx((0.3, 0.3))


def test_paired_ttest_rejects_unmatched_units() -> None:
    with pytest.raises(ValueError, match="matched units of the same length"):
        paired_ttest([1.0, 2.0, 3.0], [1.0, 2.0])
    assert "(>= 2)" in MSG_UNITS


def test_minimum_detectable_effect_and_sample_size_invert_each_other() -> None:
    mde = minimum_detectable_effect(1000, variance=0.1, alpha=0.05, power=0.8)
    assert mde == pytest.approx((sps.norm.isf(0.05) + sps.norm.ppf(0.8)) * math.sqrt(0.1 / 1000))
    n = required_sample_size(mde, variance=0.1, alpha=0.05, power=0.8)
    assert n is not None and abs(n - 1000) <= 1
    assert minimum_detectable_effect(1000, variance=0.1, tests=4) > mde
    assert required_sample_size(0.0, variance=0.1) is None
