"""Cost of diagnose() and of attribute_harm() per layer on resnet18, as ratios to one forward pass.

    .tox/fairquant/bin/python benchmarks/bench_diagnose.py [--n 64] [--size 112] [--threads 2]

A random-init torchvision resnet18 (2 classes, no download) on ``n`` random ``size``×``size``
images in two groups. One forward pass = ``predict`` of the dense model over the same samples
(batch size 32). diagnose runs with its defaults but ``max_iterations`` (``--iterations``) and
``hessian_samples`` (``--hessian-samples``); attribution runs ``budget`` layers of
``l1-unstructured-0.5`` at a tolerance the full variant passes (so no skip search), and its
cost per layer is (time − dense evaluation) / layers: two compressions and two evaluations.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--hessian-samples", type=int, default=16)
    parser.add_argument("--budget", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import torchvision

    from pytest_fairquant import DemographicSplit, attribute_harm, compress, diagnose
    from pytest_fairquant.evaluate import predict

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2).eval()
    x = torch.randn(args.n, 3, args.size, args.size)
    labels = np.arange(args.n) % 2
    split = DemographicSplit(
        labels, {"g": np.where(np.arange(args.n) % 4 == 0, "a", "b")}, inputs=x
    )
    options = {"device": "cpu", "batch_size": 32, "progress": False, "noise_check": 0}

    predict(model, split, **options)  # warm-up
    start = time.perf_counter()
    predict(model, split, **options)
    forward = time.perf_counter() - start

    variant = compress(model, "torch-dynamic-int8")  # Linear only: the dequantized path
    start = time.perf_counter()
    diag = diagnose(
        model,
        variant,
        split,
        device="cpu",
        batch_size=32,
        max_iterations=args.iterations,
        hessian_samples=args.hessian_samples,
    )
    diagnose_s = time.perf_counter() - start
    used = {m: dict(v) for m, v in diag.iterations.items()}

    start = time.perf_counter()
    result = attribute_harm(
        model,
        "l1-unstructured-0.5",
        split,
        attribute="g",
        tolerance=0.5,
        budget=args.budget,
        device="cpu",
        batch_size=32,
        max_utility_drop=None,
        min_group_size=8,
    )
    attribution_s = time.perf_counter() - start
    per_layer = (attribution_s - forward) / len(result.layers)
    assert not result.search, "the full variant should pass: this times the per-layer part only"

    print(
        f"resnet18, {args.n} samples of 3x{args.size}x{args.size}, {args.threads} threads, 2 groups"
    )
    print(f"one forward pass (predict): {forward:.2f} s")
    print(
        f"diagnose (hessian_samples={args.hessian_samples}, max_iterations={args.iterations}, "
        f"iterations used {used}): {diagnose_s:.1f} s = {diagnose_s / forward:.1f}x a forward pass"
    )
    print(
        f"attribute_harm, {len(result.layers)} layers, {result.evaluations} evaluations: "
        f"{attribution_s:.1f} s; per layer {per_layer:.2f} s = {per_layer / forward:.1f}x a forward pass"
    )


if __name__ == "__main__":
    main()
