"""Can a verdict be trusted? False alarms, false passes and power of every gate, simulated.

Each cell simulates paired dense/compressed predictions for a majority of 3,000 samples and a
minority of 30, 60, 200 or 1,000 (binary or 5 classes; dense accuracy 0.85 in both groups, wrong
predictions spread over the other classes), runs the gate, and counts verdicts:

- ``null``: compression flips 5% of samples symmetrically (as many wrong-to-right as
  right-to-wrong in every group and class), so no group's expected metric changes. Tolerance 0:
  the fail rate must stay at or below alpha = 0.05.
- ``harm``: the minority's gap metric gets worse by exactly the tolerance (``x1.0``) or by 1.5
  times it (``x1.5``), with no other churn (so small groups often show no flip at all, where a
  percentile bootstrap collapses to [0, 0]). The gap's true change is then at or beyond the
  tolerance, and the pass rate must stay at or below 0.05. (A multiclass FPR rises by a
  (C - 1)-th of an accuracy drop, so its harm needs an accuracy drop of 4x the tolerance, which
  the utility guard rightly fails: those cells show many fails.)
- ``assess``: ``assess_gap`` (``assert_fvo_below``) on one model whose minority accuracy is
  below the majority's by exactly the threshold (``x1.0``: both the fail and the pass rate must
  stay at or below 0.05) or by 1.5 times it (pass rate).
- ``churn``: fvo at tolerance 0 with a 30-sample minority that churns 10% against the
  majority's 2% (symmetric, expected accuracies unchanged): fail rate <= 0.05.
- ``power``: a 0.06 accuracy drop in a 1,000-sample minority beside 5,000, 5% background churn,
  tolerance 0.02, the minority already the worse group (dense 0.80 vs 0.90): the fvo gate must
  fail in at least 90% of runs. Shown for information (``info 0.06 eq``): the same with equal
  dense accuracies, where part of the drop only closes the sample's own small gap.

Every rate comes with its Clopper-Pearson 95% interval; with R runs the Monte Carlo standard
error of a rate of 0.05 is sqrt(0.05 * 0.95 / R) (0.015 at R = 200), and a cell is marked
``ok`` when its rate is at most 0.05 + 2 standard errors (power: at least 0.90 - 2 s.e.). The
bootstrap no longer decides any verdict, so the loop uses a small ``n_boot``.

Run: ``python benchmarks/bench_gate_validity.py`` (200 runs a cell on both cores: 1,872 s on
this project's 2-core machine) or ``--quick`` (40 runs a cell, about 3 minutes).
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from pytest_fairquant.stats import assess_gap, compare

MAJORITY = 3000
MINORITIES = (30, 60, 200, 1000)
ACCURACY = 0.85
GAPS = ("fvo", "accuracy_drop", "tpr", "fpr", "equalized_odds", "demographic_parity")
ALPHA = 0.05


@dataclass(frozen=True)
class Cell:
    scenario: str  # null | harm | assess | churn | power
    gap: str
    classes: int
    minority: int
    tolerance: float
    multiple: float  # harm as a multiple of the tolerance (0 for the null)
    majority: int = MAJORITY
    churn: tuple[float, float] = (0.05, 0.05)  # symmetric flip share (majority, minority)
    drop: float = 0.0  # a fixed accuracy drop of the minority (power)
    accuracy: tuple[float, float] = (ACCURACY, ACCURACY)  # dense (majority, minority)

    @property
    def label(self) -> str:
        what = {
            "null": "null",
            "harm": f"harm x{self.multiple:.1f}",
            "assess": f"assess x{self.multiple:.1f}",
            "churn": "churn 10%/2%",
            "power": "power 0.06" if self.accuracy[1] < self.accuracy[0] else "info 0.06 eq",
        }[self.scenario]
        return (
            f"{what:<12} {self.gap:<18} C={self.classes} n_min={self.minority:<5} "
            f"tol={self.tolerance:.2f}"
        )


def _flip_wrong(rng: np.random.Generator, y: np.ndarray, classes: int) -> np.ndarray:
    """A wrong label for each sample, uniform over the other classes."""
    return (y + rng.integers(1, classes, len(y))) % classes


def simulate(cell: Cell, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Labels, dense and compressed predictions, groups (0 majority, 1 minority)."""
    sizes = (cell.majority, cell.minority)
    groups = np.repeat([0, 1], sizes)
    n, c = len(groups), cell.classes
    y = rng.integers(0, c, n)
    accuracy = np.where(groups == 1, cell.accuracy[1], cell.accuracy[0])
    base_correct = rng.random(n) < accuracy
    base = np.where(base_correct, y, _flip_wrong(rng, y, c))
    comp = base.copy()
    # Symmetric churn: right-to-wrong and wrong-to-right each at half the flip share.
    share = np.where(groups == 1, cell.churn[1], cell.churn[0])
    u = rng.random(n)
    to_wrong = base_correct & (u < share / 2 / accuracy)
    to_right = ~base_correct & (u < share / 2 / (1 - accuracy))
    comp[to_wrong] = _flip_wrong(rng, y[to_wrong], c)
    comp[to_right] = y[to_right]
    harm = cell.drop or cell.tolerance * cell.multiple
    if harm and cell.scenario in ("harm", "power"):
        minority = groups == 1
        v = rng.random(n)
        if cell.gap in ("tpr", "equalized_odds") and c == 2:
            # positives predicted positive become negative: TPR drops by `harm`
            hit = minority & (y == 1) & (comp == 1) & (v < harm / ACCURACY)
            comp[hit] = 0
        elif cell.gap == "fpr" and c == 2:
            hit = minority & (y == 0) & (comp == 0) & (v < harm / ACCURACY)
            comp[hit] = 1
        elif cell.gap == "demographic_parity":
            p_zero = 0.5  # binary, balanced labels, symmetric errors: P(pred = 0) = 0.5
            hit = minority & (comp == 0) & (v < harm / p_zero)
            comp[hit] = 1
        else:
            # accuracy (and, multiclass, every class's TPR) drops by `harm`; a multiclass FPR
            # rises by a (C - 1)-th of an accuracy drop, so drop C - 1 times more for it
            scale = (c - 1) if cell.gap == "fpr" else 1
            hit = minority & (comp == y) & (v < harm * scale / accuracy)
            comp[hit] = _flip_wrong(rng, y[hit], c)
    return y, base, comp, groups


def simulate_one_model(cell: Cell, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    groups = np.repeat([0, 1], (cell.majority, cell.minority))
    accuracy = np.where(groups == 1, ACCURACY - cell.tolerance * cell.multiple, ACCURACY)
    y = rng.integers(0, cell.classes, len(groups))
    correct = rng.random(len(groups)) < accuracy
    return y, np.where(correct, y, _flip_wrong(rng, y, cell.classes)), groups


def run_cell(job: tuple[Cell, int, int]) -> tuple[Cell, dict[str, int]]:
    cell, runs, seed = job
    rng = np.random.default_rng(seed)
    counts = {"pass": 0, "fail": 0, "inconclusive": 0, "other": 0}
    for run in range(runs):
        if cell.scenario == "assess":
            y, pred, groups = simulate_one_model(cell, rng)
            result = assess_gap(
                y, pred, sensitive_features=groups, threshold=cell.tolerance, n_boot=200, seed=run
            )
        else:
            y, base, comp, groups = simulate(cell, rng)
            result = compare(
                y,
                base,
                comp,
                sensitive_features=groups,
                gap=cell.gap,
                tolerance=cell.tolerance,
                alpha=ALPHA,
                n_boot=20,
                n_permutations=999,
                seed=run,
                min_positives=5,
            )
        key = result.verdict if result.verdict in counts else "other"
        counts[key] += 1
    return cell, counts


def cells(quick: bool) -> Iterator[Cell]:
    for classes, minority, tolerance, gap in itertools.product(
        (2, 5), MINORITIES, (0.02, 0.05), GAPS
    ):
        if gap == "demographic_parity" and classes != 2:
            continue  # refused for multiclass: its macro selection rate is constant
        if tolerance == 0.02:  # the null is tested at tolerance 0, once per gap
            yield Cell("null", gap, classes, minority, 0.0, 0.0)
        for multiple in (1.0, 1.5):
            yield Cell("harm", gap, classes, minority, tolerance, multiple, churn=(0.0, 0.0))
    for classes, minority, tolerance in itertools.product((2, 5), MINORITIES, (0.02, 0.05)):
        for multiple in (1.0, 1.5):
            yield Cell("assess", "fvo", classes, minority, tolerance, multiple)
    yield Cell("churn", "fvo", 2, 30, 0.0, 0.0, churn=(0.02, 0.10))
    # Power where it matters: compression hurts the group that was already the worst.
    yield Cell("power", "fvo", 2, 1000, 0.02, 0.0, majority=5000, drop=0.06, accuracy=(0.9, 0.8))
    # For information: equal dense accuracies, where the FVO's sample change is smaller.
    yield Cell("power", "fvo", 2, 1000, 0.02, 0.0, majority=5000, drop=0.06)
    del quick


def judge(cell: Cell, counts: dict[str, int], runs: int) -> tuple[str, int, str]:
    """The rate the cell is judged on, and whether it is within its target."""
    se = math.sqrt(0.05 * 0.95 / runs)
    if cell.scenario == "power":
        fails = counts["fail"]
        if cell.accuracy[1] >= cell.accuracy[0]:
            return "fail", fails, "info"
        return "fail", fails, "ok" if fails / runs >= 0.90 - 2 * se else "MISS"
    if cell.scenario in ("null", "churn"):
        rate_of = "fail"
    elif cell.scenario == "assess" and cell.multiple == 1.0:
        worst = max(counts["fail"], counts["pass"])
        rate_of = "fail" if counts["fail"] == worst else "pass"
    else:
        rate_of = "pass"
    value = counts[rate_of]
    return rate_of, value, "ok" if value / runs <= 0.05 + 2 * se else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per cell (default 200)")
    parser.add_argument("--quick", action="store_true", help="40 runs per cell")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    runs = 40 if args.quick else args.runs
    start = time.perf_counter()
    grid = list(cells(args.quick))
    jobs = [(cell, runs, 1000 + i) for i, cell in enumerate(grid)]
    with multiprocessing.Pool(args.workers) as pool:
        results = pool.map(run_cell, jobs, chunksize=1)
    se = math.sqrt(0.05 * 0.95 / runs)
    print(
        f"{runs} runs a cell; Monte Carlo s.e. of a 0.05 rate {se:.3f}; "
        f"ok = within 0.05 + 2 s.e. = {0.05 + 2 * se:.3f} (power: >= {0.90 - 2 * se:.3f})"
    )
    header = f"{'cell':<58} {'pass':>6} {'fail':>6} {'incon':>6}  judged on       95% CI          "
    print(header)
    misses = 0
    for cell, counts in results:
        rate_of, value, verdict = judge(cell, counts, runs)
        misses += verdict == "MISS"
        ci = sps.binomtest(value, runs).proportion_ci(0.95, method="exact")
        print(
            f"{cell.label:<58} {counts['pass'] / runs:6.3f} {counts['fail'] / runs:6.3f} "
            f"{counts['inconclusive'] / runs:6.3f}  {rate_of} {value / runs:.3f} "
            f"[{ci.low:.3f}, {ci.high:.3f}] {verdict}"
        )
    print(
        f"{len(results)} cells, {misses} outside their target; "
        f"{time.perf_counter() - start:.0f} s on {args.workers} worker(s)"
    )


if __name__ == "__main__":
    main()
