"""The issue-12 walk-through on the bundled digits example (docs/diagnostics.md quotes its output).

nm-2:4 fails the example's FVO gate (tolerance 0.10). This script diagnoses that failure, finds
the layers that did it and a skip list on one half of the split, checks that skip list on the
other (held-out) half with the same gate, and runs the mitigations.

    .tox/fairquant/bin/python benchmarks/digits_diagnostics.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "vision_digits"))

from digits_model import load_model, load_split

from pytest_fairquant import attribute_harm, compress, diagnose, mitigate
from pytest_fairquant.attribution import format_attribution
from pytest_fairquant.evaluate import predict
from pytest_fairquant.mitigation import format_mitigations, holdout_split
from pytest_fairquant.stats import compare

METHOD, ATTRIBUTE, GAP, TOLERANCE = "nm-2:4", "marker", "fvo", 0.10
GATE = {"n_boot": 500, "min_group_size": 30}


def main() -> None:
    model, split = load_model(), load_split()
    variant = compress(model, METHOD)
    start = time.perf_counter()
    diagnosis = diagnose(model, variant, split, attribute=ATTRIBUTE, device="cpu")
    print(f"diagnose: {time.perf_counter() - start:.1f} s")
    print(diagnosis.summary_line())
    for group in diagnosis.groups:
        d, c = diagnosis.dense_by_group[group], diagnosis.by_group[group]
        print(
            f"  {group:<9} loss {d.loss:.3f}->{c.loss:.3f}  grad {d.grad_norm:.3f}->{c.grad_norm:.3f}"
            f"  lambda_max {d.hessian_lambda_max:.2f}->{c.hessian_lambda_max:.2f}"
            f"  uncertain {d.uncertainty:.2f}->{c.uncertainty:.2f}  flips {dict(c.flips)}"
        )

    search_rows, held_rows = holdout_split(split, 0.5, attribute=ATTRIBUTE, seed=0)
    search, held = split.subset(search_rows), split.subset(held_rows)
    start = time.perf_counter()
    result = attribute_harm(
        model,
        METHOD,
        search,
        attribute=ATTRIBUTE,
        gap=GAP,
        tolerance=TOLERANCE,
        device="cpu",
        **GATE,
    )
    print(f"\nattribute_harm on {len(search)} samples: {time.perf_counter() - start:.1f} s")
    print(format_attribution(result))
    if result.skip is not None:
        kept = compress(model, METHOD, skip=list(result.skip))
        base = predict(model, held, device="cpu", progress=False)
        for name, candidate in (("full", variant), (f"skip={list(result.skip)}", kept)):
            pred = predict(candidate, held, device="cpu", progress=False)
            check = compare(
                held.labels,
                base.pred,
                pred.pred,
                sensitive_features=held.sensitive_features(ATTRIBUTE),
                gap=GAP,
                tolerance=TOLERANCE,
                **GATE,
            )
            print(
                f"held-out ({len(held)} samples), {METHOD} {name}: {check.verdict}, "
                f"FVO delta {check.delta:+.3f}, upper bound {check.upper_bound:.3f}"
            )

    print()
    report = mitigate(
        model,
        variant,
        split,
        attribute=ATTRIBUTE,
        gap=GAP,
        tolerance=TOLERANCE,
        device="cpu",
        **GATE,
    )
    print(format_mitigations(report))


if __name__ == "__main__":
    main()
