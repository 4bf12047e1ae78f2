"""One metric engine (issue 11): GroupReport, the gap functions, BA and the gates' resampled
tables all take their per-group values from metrics/_confusion.py, so a report row and the
verdict beside it can never disagree on what 'tpr of group b' is."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_fairquant import metrics, stats
from pytest_fairquant.metrics import _confusion
from pytest_fairquant.metrics._inputs import encode_groups


def test_the_gates_use_the_metrics_engine_itself() -> None:
    from pytest_fairquant.stats import _compare

    assert stats.group_metric is _confusion.table_metric
    assert _compare.gap_of is _confusion.table_gap


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("metric", ["accuracy", "tpr", "fpr", "fnr", "ppv", "selection_rate"])
def test_group_report_and_table_metric_agree(n_classes: int, metric: str) -> None:
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, size=900)
    pred = np.where(rng.random(900) < 0.7, y, rng.integers(0, n_classes, size=900))
    groups = rng.choice(["a", "b", "c"], size=900)
    report = metrics.group_metrics(y, pred, sensitive_features=groups, metrics=[metric])
    enc = encode_groups(groups, len(y))
    table = _confusion.confusion_tables(y, pred, enc.codes, enc.n_groups, n_classes)
    values = _confusion.table_metric(table, metric)
    for i, name in enumerate(enc.names):
        assert report.by_group[metric][name] == pytest.approx(values[i], abs=1e-12)


@pytest.mark.parametrize(
    ("gap", "function"),
    [
        ("fvo", metrics.fvo),
        ("tpr", metrics.true_positive_rate_difference),
        ("fpr", metrics.false_positive_rate_difference),
        ("equalized_odds", metrics.equalized_odds_difference),
        ("demographic_parity", metrics.demographic_parity_difference),
    ],
)
def test_the_gap_functions_and_table_gap_agree(gap: str, function: object) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=1200)
    pred = np.where(rng.random(1200) < 0.8, y, 1 - y)
    groups = rng.choice(["a", "b", "c"], size=1200)
    enc = encode_groups(groups, len(y))
    table = _confusion.confusion_tables(y, pred, enc.codes, enc.n_groups, 2)
    value = function(y, pred, sensitive_features=groups)  # type: ignore[operator]
    assert float(value) == pytest.approx(float(_confusion.table_gap(gap, table)), abs=1e-12)


def test_bias_amplification_is_table_ba() -> None:
    rng = np.random.default_rng(2)
    identity = rng.integers(0, 2, size=2000)
    y = (rng.random(2000) < np.where(identity == 1, 0.6, 0.3)).astype(int)
    pred = np.where(rng.random(2000) < 0.85, y, 1 - y)
    train_identity = rng.integers(0, 2, size=3000)
    train_y = (rng.random(3000) < np.where(train_identity == 1, 0.6, 0.3)).astype(int)
    ba = metrics.bias_amplification(
        y,
        pred,
        sensitive_features=identity,
        train_y_true=train_y,
        train_sensitive_features=train_identity,
    )
    table = _confusion.confusion_tables(y, pred, identity, 2, 2)
    # Identity 1 has the higher training positive rate: it is the favoured group.
    assert float(ba) == pytest.approx(float(_confusion.table_ba(table, 1)), abs=1e-12)
    predicted, actual = pred == 1, y == 1
    by_hand = (predicted & (identity == 1)).sum() / predicted.sum() - (
        actual & (identity == 1)
    ).sum() / actual.sum()
    assert float(ba) == pytest.approx(by_hand, abs=1e-12)
