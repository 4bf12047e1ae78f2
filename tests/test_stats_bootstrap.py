"""The cell-multinomial bootstrap against brute force, BCa against scipy, group intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from pytest_fairquant.metrics import confusion_tables, group_metrics
from pytest_fairquant.stats import (
    MSG_INTERVAL,
    MSG_N_BOOT,
    PairedCells,
    bootstrap_cells,
    group_intervals,
    group_metric,
    paired_bootstrap,
)


def paired_data(n: int = 2000, n_groups: int = 3, n_classes: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = rng.choice(
        n_groups, n, p=np.linspace(1, 2, n_groups) / np.linspace(1, 2, n_groups).sum()
    )
    y = rng.integers(0, n_classes, n)
    base = np.where(rng.random(n) < 0.8, y, rng.integers(0, n_classes, n))
    comp = np.where(rng.random(n) < 0.1, rng.integers(0, n_classes, n), base)
    return y, base, comp, groups


def per_group_delta(tb: np.ndarray, tc: np.ndarray) -> np.ndarray:
    return group_metric(tc, "accuracy") - group_metric(tb, "accuracy")


def stratified_index_matrix(
    groups: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """The brute-force plan: every resample keeps each group's size, drawn sample by sample."""
    columns = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        columns.append(members[rng.integers(0, len(members), (n_boot, len(members)))])
    return np.hstack(columns)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_unit_counts_map_to_the_same_tables_as_confusion_tables(n_classes: int) -> None:
    # Exact: for one concrete index matrix, counting units gives confusion_tables' tables.
    y, base, comp, groups = paired_data(300, 3, n_classes, seed=1)
    cells = PairedCells.build(y, base, comp, groups, 3, n_classes)
    idx = stratified_index_matrix(groups, 5, np.random.default_rng(0))
    joint = ((groups * n_classes + y) * n_classes + base) * n_classes + comp
    unit_keys = cells.base_key * n_classes + cells.compressed_key % n_classes
    unit_of_sample = np.searchsorted(unit_keys, joint)
    counts = np.stack([np.bincount(unit_of_sample[row], minlength=cells.n_units) for row in idx])
    tb, tc = cells.tables(counts)
    np.testing.assert_array_equal(
        tb, confusion_tables(y, base, groups, 3, n_classes, resamples=idx)
    )
    np.testing.assert_array_equal(
        tc, confusion_tables(y, comp, groups, 3, n_classes, resamples=idx)
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_bootstrap_matches_brute_force_index_matrix_in_distribution(weighted: bool) -> None:
    y, base, comp, groups = paired_data()
    weights = np.random.default_rng(5).uniform(0.5, 2.0, len(y)) if weighted else None
    cells = PairedCells.build(y, base, comp, groups, 3, 2, weights)
    n_boot = 4000
    ours = bootstrap_cells(cells, per_group_delta, n_boot=n_boot, seed=0, alpha=0.05).distribution
    idx = stratified_index_matrix(groups, n_boot, np.random.default_rng(99))
    tb = confusion_tables(y, base, groups, 3, 2, weights=weights, resamples=idx)
    tc = confusion_tables(y, comp, groups, 3, 2, weights=weights, resamples=idx)
    brute = per_group_delta(tb.astype(float), tc.astype(float))
    sd = brute.std(axis=0)
    step = 1.0 / np.bincount(groups)  # accuracy moves in steps of 1/n_g
    # Monte-Carlo error of a 2.5%..97.5% quantile over 4000 resamples is below 0.06 sd for
    # each side (sqrt(q(1-q)/R)/density); two independent runs, plus one lattice step of
    # discreteness either way, stay inside 0.2 sd + 2 steps.
    for q in (0.025, 0.25, 0.5, 0.75, 0.975):
        gap = np.abs(np.quantile(ours, q, axis=0) - np.quantile(brute, q, axis=0))
        assert (gap <= 0.2 * sd + 2 * step).all(), (q, gap, sd)
    np.testing.assert_allclose(ours.std(axis=0), sd, rtol=0.08)


def test_bca_matches_scipy_on_a_single_group() -> None:
    # One group: the stratified bootstrap is the ordinary one scipy runs on the per-sample change.
    y, base, comp, _ = paired_data(400, 1, seed=3)
    groups = np.zeros(len(y), dtype=np.int64)
    cells = PairedCells.build(y, base, comp, groups, 1, 2)
    ours = bootstrap_cells(
        cells,
        lambda b, c: per_group_delta(b, c)[..., 0],
        n_boot=20000,
        seed=0,
        alpha=0.05,
        method="bca",
    )
    change = (comp == y).astype(float) - (base == y)
    ref = sps.bootstrap(
        (change,),
        np.mean,
        method="BCa",
        n_resamples=20000,
        confidence_level=0.95,
        rng=np.random.default_rng(1),
    )
    se = ref.standard_error
    # Two independent 20,000-resample runs: the endpoints agree to a few percent of the SE.
    assert abs(float(ours.low) - ref.confidence_interval.low) < 0.1 * se
    assert abs(float(ours.high) - ref.confidence_interval.high) < 0.1 * se


def test_cell_jackknife_equals_the_per_sample_jackknife() -> None:
    y, base, comp, groups = paired_data(150, 2, seed=4)
    cells = PairedCells.build(y, base, comp, groups, 2, 2)

    def fvo_change(tb: np.ndarray, tc: np.ndarray) -> np.ndarray:
        acc_b, acc_c = group_metric(tb, "accuracy"), group_metric(tc, "accuracy")
        return (acc_c.max(-1) - acc_c.min(-1)) - (acc_b.max(-1) - acc_b.min(-1))

    values, multiplicity = cells.jackknife(fvo_change)
    per_sample = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        tb = confusion_tables(y[keep], base[keep], groups[keep], 2, 2).astype(float)
        tc = confusion_tables(y[keep], comp[keep], groups[keep], 2, 2).astype(float)
        per_sample.append(float(fvo_change(tb, tc)))
    np.testing.assert_allclose(
        np.sort(np.repeat(values, multiplicity)), np.sort(per_sample), atol=1e-12
    )


def test_same_seed_same_resamples_and_different_seed_differs() -> None:
    y, base, comp, groups = paired_data(500)
    a = paired_bootstrap(
        y, base, comp, sensitive_features=groups, statistic="fvo", n_boot=50, seed=7
    )
    b = paired_bootstrap(
        y, base, comp, sensitive_features=groups, statistic="fvo", n_boot=50, seed=7
    )
    c = paired_bootstrap(
        y, base, comp, sensitive_features=groups, statistic="fvo", n_boot=50, seed=8
    )
    np.testing.assert_array_equal(a.distribution, b.distribution)
    assert not np.array_equal(a.distribution, c.distribution)


def test_resamples_keep_every_group_size() -> None:
    y, base, comp, groups = paired_data(700)
    cells = PairedCells.build(y, base, comp, groups, 3, 2)
    counts = next(cells.resample_counts(np.random.default_rng(0), 20))
    sizes = np.stack([np.bincount(cells.group, weights=row, minlength=3) for row in counts])
    np.testing.assert_array_equal(sizes, np.tile(np.bincount(groups), (20, 1)))


def test_group_intervals_cover_the_point_estimates_of_group_metrics() -> None:
    y, base, _, groups = paired_data(3000, 4)
    names = ("accuracy", "tpr", "fpr")
    report = group_metrics(y, base, sensitive_features=groups, metrics=names)
    intervals = group_intervals(y, base, sensitive_features=groups, metrics=names, n_boot=300)
    assert set(intervals) == set(names)
    for m in names:
        assert set(intervals[m]) == set(report.by_group[m])
        for g, (lo, hi) in intervals[m].items():
            assert lo <= report.by_group[m][g] <= hi
            assert hi - lo < 0.1
    assert report.with_intervals(intervals).intervals is not None


def test_group_intervals_leave_out_metrics_without_tables() -> None:
    y, base, _, groups = paired_data(400)
    out = group_intervals(
        y, base, sensitive_features=groups, metrics=("accuracy", "kappa"), n_boot=20
    )
    assert list(out) == ["accuracy"]


def test_multiclass_rates_macro_average_like_group_metrics() -> None:
    y, base, comp, groups = paired_data(900, 2, 3, seed=6)
    cells = PairedCells.build(y, base, comp, groups, 2, 3)
    tb, _ = cells.point_tables()
    report = group_metrics(y, base, sensitive_features=groups, metrics=("tpr", "fpr"))
    for m in ("tpr", "fpr"):
        np.testing.assert_allclose(
            group_metric(tb, m), [report.by_group[m][str(g)] for g in range(2)], atol=1e-12
        )


def test_bad_bootstrap_arguments_name_the_fix() -> None:
    y, base, comp, groups = paired_data(100)
    with pytest.raises(ValueError, match="n_boot must be an int >= 1"):
        paired_bootstrap(y, base, comp, sensitive_features=groups, statistic="fvo", n_boot=0)
    assert "n_boot" in MSG_N_BOOT
    with pytest.raises(ValueError, match="interval must be 'percentile' or 'bca'"):
        paired_bootstrap(
            y, base, comp, sensitive_features=groups, statistic="fvo", interval="basic"
        )
    assert MSG_INTERVAL.format(got="basic").endswith("'basic'")
