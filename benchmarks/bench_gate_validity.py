"""Is the gate calibrated, and does it have power? Simulated paired predictions.

Four groups of 5,000 / 3,000 / 1,000 / 1,000 samples with dense accuracies 0.90 / 0.88 /
0.85 / 0.80 (the last, a minority, is the worst group). Compression flips 5% of samples, half
of them to wrong and half to right, so every group's true accuracy is unchanged (null).

- Null: ``compare(gap="fvo", tolerance=0.0, alpha=0.05)`` must fail in at most 7% of runs.
- Power: the minority group loses another 0.06 of accuracy; ``compare(gap="fvo",
  tolerance=0.02, alpha=0.05)`` must fail in at least 90% of runs.
- Shown for information: the same 0.06 drop in a minority group that is the *best* group
  narrows the FVO (no fvo fail is expected), while ``gap="accuracy_drop"`` catches it.

The fail verdict comes from the permutation test, not from the bootstrap (which only decides
pass), so the loop uses a small ``n_boot``; the rates with their Clopper-Pearson 95% intervals
are printed. Run: ``.venv/bin/python benchmarks/bench_gate_validity.py [--runs 400]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats as sps

from pytest_fairquant.stats import compare

SIZES = (5000, 3000, 1000, 1000)
ACCURACY = (0.90, 0.88, 0.85, 0.80)
FLIP = 0.05


def simulate(
    rng: np.random.Generator, accuracy: tuple[float, ...], drop: dict[int, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, dense and compressed predictions, groups; ``drop[g]`` extra harm in group g."""
    groups = np.repeat(np.arange(len(SIZES)), SIZES)
    acc = np.asarray(accuracy)[groups]
    extra = np.array([drop.get(g, 0.0) for g in range(len(SIZES))])[groups]
    y = rng.integers(0, 2, len(groups))
    base_correct = rng.random(len(groups)) < acc
    u = rng.random(len(groups))
    harmed = base_correct & (u < (FLIP / 2 + extra) / acc)
    helped = ~base_correct & (u < (FLIP / 2) / (1 - acc))
    comp_correct = np.where(harmed, False, np.where(helped, True, base_correct))
    base = np.where(base_correct, y, 1 - y)
    comp = np.where(comp_correct, y, 1 - y)
    return y, base, comp, groups


def fail_rate(
    runs: int,
    accuracy: tuple[float, ...],
    drop: dict[int, float],
    gap: str,
    tolerance: float,
    args: argparse.Namespace,
    seed: int,
) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    fails = 0
    for run in range(runs):
        y, base, comp, groups = simulate(rng, accuracy, drop)
        result = compare(
            y,
            base,
            comp,
            sensitive_features=groups,
            gap=gap,
            tolerance=tolerance,
            alpha=0.05,
            n_boot=args.n_boot,
            n_permutations=args.n_permutations,
            seed=run,
        )
        fails += result.verdict == "fail"
    return fails, runs


def show(label: str, fails: int, runs: int, target: str) -> None:
    ci = sps.binomtest(fails, runs).proportion_ci(0.95, method="exact")
    print(
        f"{label}: fail rate {fails / runs:.3f} ({fails}/{runs}), "
        f"95% CI [{ci.low:.3f}, {ci.high:.3f}]  target {target}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--n-boot", type=int, default=100)
    parser.add_argument("--n-permutations", type=int, default=999)
    args = parser.parse_args()
    start = time.perf_counter()
    show(
        "null  (fvo, tolerance 0.00)",
        *fail_rate(args.runs, ACCURACY, {}, "fvo", 0.0, args, seed=1),
        "<= 0.07",
    )
    show(
        "power (fvo, tolerance 0.02, minority worst, drop 0.06)",
        *fail_rate(args.runs, ACCURACY, {3: 0.06}, "fvo", 0.02, args, seed=2),
        ">= 0.90",
    )
    best_minority = (0.85, 0.83, 0.80, 0.92)
    info_runs = max(1, args.runs // 4)
    show(
        "info  (fvo, tolerance 0.02, minority best, drop 0.06)",
        *fail_rate(info_runs, best_minority, {3: 0.06}, "fvo", 0.02, args, seed=3),
        "(FVO narrows: few fails expected)",
    )
    show(
        "info  (accuracy_drop, tolerance 0.02, minority best, drop 0.06)",
        *fail_rate(info_runs, best_minority, {3: 0.06}, "accuracy_drop", 0.02, args, seed=4),
        "(high: the group's own loss)",
    )
    print(
        f"{args.runs} runs per gate scenario, n_boot={args.n_boot}, "
        f"n_permutations={args.n_permutations}: {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
