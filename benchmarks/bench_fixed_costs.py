"""The fixed costs around the forward passes (issue 14), each measured side by side.

- start-up: importing the plugin, the statistics and the HTML module in a fresh process
  (median of 3 processes each), and whether ``scipy.stats`` came with them;
- a gate at ``--n`` samples (default 1,000,000, two groups): ``compare`` given the group-name
  strings (what every gate did before: encode them again) against the split's group codes
  (what the gates pass now, encoded once per split), and the first encoding itself;
- the noise check: rows re-run for a float model on the CPU and for a quantized kernel, and
  their share of the split;
- the HTML report: rendering a report of 6 methods x 2 attributes with its plots (matplotlib).

    python benchmarks/bench_fixed_costs.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

IMPORTS = (
    "pytest_fairquant.plugin",
    "pytest_fairquant.stats",
    "pytest_fairquant.report.html",
    # What the statistics need of scipy, against what they imported before.
    "scipy.special",
    "scipy.stats",
)


def startup() -> None:
    print("start-up, fresh process (median of 3):")
    for module in IMPORTS:
        code = (
            "import sys, time; t = time.perf_counter(); import " + module + "; "
            "print(time.perf_counter() - t, 'scipy.stats' in sys.modules, "
            "'matplotlib' in sys.modules, 'torch' in sys.modules)"
        )
        runs = [
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()
            for _ in range(3)
        ]
        seconds = statistics.median(float(r[0]) for r in runs)
        scipy_stats, matplotlib, torch = runs[0][1:]
        print(
            f"  import {module:30s} {seconds:6.3f} s  (scipy.stats {scipy_stats}, "
            f"matplotlib {matplotlib}, torch {torch})"
        )


def gate(n: int) -> None:
    from pytest_fairquant import DemographicSplit
    from pytest_fairquant.stats import compare

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.9, y, 1 - y)
    comp = np.where(rng.random(n) < 0.99, base, 1 - base)
    names = np.where(rng.random(n) < 0.3, "minority", "majority")
    split = DemographicSplit(y, {"group": names}, name="big")
    start = time.perf_counter()
    codes = split.groups("group")
    encode = time.perf_counter() - start
    strings = split.sensitive_features("group")
    options: dict[str, Any] = {"tolerance": 0.02, "n_boot": 200, "seed": 0}
    timings: dict[str, list[float]] = {"strings": [], "codes": []}
    for _ in range(3):  # interleaved
        for label, feature in (("strings", strings), ("codes", codes)):
            start = time.perf_counter()
            compare(y, base, comp, sensitive_features=feature, **options)
            timings[label].append(time.perf_counter() - start)
    s, c = (statistics.median(timings[k]) for k in ("strings", "codes"))
    print(f"\ncompare at {n:,} samples, 2 groups, 200 resamples (median of 3, interleaved):")
    print(f"  given the group names (strings) {s:6.3f} s")
    print(f"  given the split's group codes   {c:6.3f} s  ({s / c:.1f}x faster)")
    print(f"  encoding the split's groups once: {encode:.3f} s (then shared by every gate)")


def noise_check() -> None:
    import torch

    from pytest_fairquant import DemographicSplit, compress
    from pytest_fairquant.evaluate import predict

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    n = 20_000
    x = torch.randn(n, 16, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    split = DemographicSplit(rng.integers(0, 3, n), {"g": rng.choice(["a", "b"], n)}, inputs=x)
    print(f"\nnoise check on {n:,} samples, batch 64 (rows re-run, share of the split):")
    for label, candidate in (
        ("float MLP on the CPU", model),
        ("torch-dynamic-int8", compress(model, "torch-dynamic-int8")),
    ):
        floor = predict(candidate, split, batch_size=64, progress=False).metadata["noise_floor"]
        print(
            f"  {label:22s} {floor['n']:5d} rows = {floor['n'] / n:.2%}  "
            f"(first rerun bitwise identical: {floor['first_rerun']['bitwise_identical']})"
        )


def html() -> None:
    from pytest_fairquant.report import build_report
    from pytest_fairquant.report.html import render
    from pytest_fairquant.stats import compare

    rng = np.random.default_rng(1)
    n = 4000
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.85, y, 1 - y)
    features = {"race": rng.choice(["a", "b", "c"], n), "sex": rng.choice(["f", "m"], n)}
    records = []
    for i, method in enumerate(
        ["uniform-int8", "uniform-int4", "uniform-int2", "kmeans-16", "nm-2:4", "bnb-nf4"]
    ):
        comp = np.where(rng.random(n) < 1 - 0.02 * i, base, 1 - base)
        for attribute, feature in features.items():
            c = compare(y, base, comp, sensitive_features=feature, tolerance=0.05, n_boot=100)
            records.append(
                {
                    "nodeid": f"t.py::test_gate[{method}-{attribute}]",
                    "gate": "assert_no_bias_amplification",
                    "method": method,
                    "comparison": {**c.to_dict(), "attribute": attribute},
                }
            )
    report = build_report(records, settings={"seed": 0}, methods={}, splits={}, command=["bench"])
    render(report)  # the first render imports matplotlib
    start = time.perf_counter()
    page = render(report)
    print(
        f"\nHTML report, 6 methods x 2 attributes: {time.perf_counter() - start:.2f} s to render "
        f"({page.count('<svg')} plots, {len(page) / 1024:.0f} KiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    startup()
    gate(args.n)
    noise_check()
    html()


if __name__ == "__main__":
    main()
