"""Bootstrap speed: per-group accuracy, TPR and FPR intervals, against fairlearn's MetricFrame.

1. 20,000 samples × 4 groups, 200 resamples: ``pytest_fairquant`` (``group_metrics`` for the
   point estimates + ``stats.group_intervals``) side by side with
   ``fairlearn.metrics.MetricFrame(..., n_boot=200, ci_quantiles=[0.025, 0.975])`` on the same
   data. Prints both times, the speed ratio (target >= 100x) and whether the point estimates
   are identical (to 1e-12).
2. 1,000 resamples × 100,000 samples × 8 groups (target < 2 s): per-group intervals of one
   model, and the paired bootstrap of the FVO change between two models; plus, for
   information, the weighted fallback (chunked index draws) at the same size.

fairlearn resamples the whole data set (not stratified by group) and recomputes every metric
per resample; our resamples are multinomial draws over the distinct paired outcomes of each
group, so their cost does not grow with n. Run: ``.venv/bin/python benchmarks/bench_bootstrap.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from fairlearn.metrics import MetricFrame, false_positive_rate, true_positive_rate
from sklearn.metrics import accuracy_score

from pytest_fairquant.metrics import group_metrics
from pytest_fairquant.stats import group_intervals, paired_bootstrap

METRICS = ("accuracy", "tpr", "fpr")


def data(n: int, n_groups: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n)
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.85, y, 1 - y)
    compressed = np.where(rng.random(n) < 0.05, 1 - base, base)
    return y, base, compressed, groups


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def ours(y: np.ndarray, pred: np.ndarray, groups: np.ndarray, n_boot: int) -> Any:
    report = group_metrics(y, pred, sensitive_features=groups, metrics=METRICS)
    intervals = group_intervals(
        y, pred, sensitive_features=groups, metrics=METRICS, n_boot=n_boot, seed=0
    )
    return report, intervals


def main() -> None:
    y, base, compressed, groups = data(20_000, 4, seed=0)
    ours(y, base, groups, 5)  # warm imports and caches for both sides alike
    t_ours, (report, _) = timed(lambda: ours(y, base, groups, 200))
    t_fl, frame = timed(
        lambda: MetricFrame(
            metrics={
                "accuracy": accuracy_score,
                "tpr": true_positive_rate,
                "fpr": false_positive_rate,
            },
            y_true=y,
            y_pred=base,
            sensitive_features=groups,
            n_boot=200,
            ci_quantiles=[0.025, 0.975],
            random_state=0,
        )
    )
    worst = max(
        abs(float(frame.by_group[m][g]) - report.by_group[m][str(g)])
        for m in METRICS
        for g in frame.by_group.index
    )
    print("20,000 samples x 4 groups, accuracy/TPR/FPR, 200 resamples")
    print(f"  pytest-fairquant: {t_ours * 1000:.1f} ms")
    print(f"  fairlearn MetricFrame(n_boot=200): {t_fl * 1000:.1f} ms")
    print(f"  speed ratio: {t_fl / t_ours:.0f}x (target >= 100x)")
    print(f"  point estimates identical: {worst <= 1e-12} (largest difference {worst:.1e})")

    y, base, compressed, groups = data(100_000, 8, seed=1)
    t_group, _ = timed(
        lambda: group_intervals(
            y, base, sensitive_features=groups, metrics=METRICS, n_boot=1000, seed=0
        )
    )
    t_paired, _ = timed(
        lambda: paired_bootstrap(
            y, base, compressed, sensitive_features=groups, statistic="fvo", n_boot=1000
        )
    )
    weights = np.random.default_rng(2).random(len(y))
    t_weighted, _ = timed(
        lambda: paired_bootstrap(
            y,
            base,
            compressed,
            sensitive_features=groups,
            statistic="fvo",
            n_boot=1000,
            sample_weight=weights,
        )
    )
    print("1,000 resamples x 100,000 samples x 8 groups (target < 2 s)")
    print(f"  per-group accuracy/TPR/FPR intervals: {t_group:.3f} s")
    print(f"  paired FVO change, dense vs compressed: {t_paired:.3f} s")
    print(f"  same with sample weights (index-draw fallback): {t_weighted:.3f} s")


if __name__ == "__main__":
    main()
