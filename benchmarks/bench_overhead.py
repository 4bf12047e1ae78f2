"""Harness overhead of ``predict`` (with the prediction cache) over bare forward passes.

resnet18 (random init) dense + 4 compressed variants on N random images: each model is run
through ``predict(..., cache=<fresh PredictionCache on disk>)`` (device checks, fingerprint,
deterministic state, collate, score concatenation, finalize, noise check, atomic npz write) and
as a bare ``inference_mode`` loop over the same batches, side by side: the two are interleaved
model by model, repeated, and the medians of the per-repeat totals compared. Compression time is
measured once per method and reported apart; the ratio is printed per model too (a float model
on the CPU re-runs one batch for its noise check, a quantized kernel 5% of the split). Then the
peak memory of ``evaluate_variants`` with 4 variants against each variant alone, each in a
process of its own (peak RSS of the process, ``ru_maxrss``; in one process the allocator's reuse
made readings unstable), three processes per configuration, quoted as a range.

    python benchmarks/bench_overhead.py [--n 2000] [--size 32] [--batch-size 100] [--repeats 3]
    python benchmarks/bench_overhead.py --memory-only

Images are 32×32 by default: full 224² resnet18 on 2,000 images takes minutes per model on
this 2-core machine; the ratio is what matters and a smaller resolution makes it stricter (the
fixed harness costs weigh more against cheaper forwards).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

from pytest_fairquant import DemographicSplit
from pytest_fairquant.cache import PredictionCache
from pytest_fairquant.compression import compress
from pytest_fairquant.evaluate import evaluate_variants, predict

METHODS = ("uniform-int8", "torch-dynamic-int8", "global-magnitude-0.5", "kmeans-16")


def bare(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> None:
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            model(x[start : start + batch_size].to(device)).float().cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--memory-only", action="store_true", help="only the peak-memory part (no timing)"
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)  # methods, comma-separated
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import torchvision

    torch.manual_seed(0)
    dense = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(args.n, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    split = DemographicSplit(
        rng.integers(0, 1000, args.n),
        {"group": rng.choice(["a", "b", "c"], args.n)},
        inputs=x,
        class_names=[str(i) for i in range(1000)],
        name="noise-images",
    )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.memory_child is not None:
        child(dense, split, args.batch_size, tuple(args.memory_child.split(",")))
        return
    print(
        f"resnet18, {args.n} images {args.size}x{args.size}, batch {args.batch_size}, "
        f"{args.repeats} repeats, {args.threads} thread(s), {device}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )

    if args.memory_only:
        memory(args)
        return
    models: dict[str, Any] = {"dense": dense}
    print("\ncompression time (reported apart from evaluation):")
    for method in METHODS:
        start = time.perf_counter()
        models[method] = compress(dense, method)
        print(f"  {method:22s} {time.perf_counter() - start:7.2f} s")

    harness: list[float] = []
    forward: list[float] = []
    per_model: dict[str, list[float]] = {name: [] for name in models}
    for repeat in range(args.repeats):
        h_total = f_total = 0.0
        for name, model in models.items():
            h_model = f_model = 0.0
            # Alternate which runs first so warm caches favour neither side.
            order = ("h", "f") if (repeat + len(name)) % 2 == 0 else ("f", "h")
            for side in order:
                start = time.perf_counter()
                if side == "h":
                    with tempfile.TemporaryDirectory() as tmp:
                        predict(
                            model,
                            split,
                            batch_size=args.batch_size,
                            method=name,
                            cache=PredictionCache(tmp),
                            progress=False,
                        )
                    h_model += time.perf_counter() - start
                else:
                    # torch.ao dynamic int8 runs on the CPU only; predict keeps it there too.
                    where = torch.device("cpu") if name == "torch-dynamic-int8" else device
                    bare(model.to(where), x, args.batch_size, where)
                    f_model += time.perf_counter() - start
            per_model[name].append(h_model / f_model)
            h_total += h_model
            f_total += f_model
        harness.append(h_total)
        forward.append(f_total)
        print(f"  repeat {repeat}: predict+cache {h_total:7.2f} s, bare forward {f_total:7.2f} s")
    h, f = statistics.median(harness), statistics.median(forward)
    print(
        f"\nharness overhead: predict with cache {h:.2f} s / bare forward {f:.2f} s = "
        f"{h / f:.3f}x (target <= 1.15x; medians of {args.repeats} interleaved repeats, 5 models); "
        f"median per-repeat ratio {statistics.median(a / b for a, b in zip(harness, forward, strict=True)):.3f}x"
    )
    print(
        "  per model (median ratio): "
        + ", ".join(f"{name} {statistics.median(r):.3f}x" for name, r in per_model.items())
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = PredictionCache(tmp)
        predict(dense, split, batch_size=args.batch_size, cache=cache, progress=False)
        start = time.perf_counter()
        predict(
            dense, split, batch_size=args.batch_size, cache=PredictionCache(tmp), progress=False
        )
        print(
            f"cache hit from disk (new process-like cache object): {time.perf_counter() - start:.3f} s"
        )

    del models
    memory(args)


def child(
    dense: torch.nn.Module, split: DemographicSplit, batch_size: int, methods: tuple[str, ...]
) -> None:
    """In a process of its own: ``evaluate_variants`` of ``methods`` on 200 samples, then the
    process's peak RSS before and after (MiB), for :func:`memory`."""
    small = split.subset(np.arange(min(200, len(split))))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    evaluate_variants(dense, methods, small, batch_size=batch_size, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{before:.1f} {after:.1f}")


def memory(args: argparse.Namespace) -> None:
    """Peak RSS of a process that evaluates all variants (one at a time, as the plugin does)
    against processes that evaluate one variant each; three processes per configuration.

    Methods differ in their working memory (a global magnitude threshold sorts every weight,
    k-means keeps distance matrices), so "dense + one variant" is the largest single-method
    peak; kept-alive variants would add a model size per method on top of it.
    """

    def peaks(methods: tuple[str, ...]) -> list[tuple[float, float]]:
        command = [sys.executable, __file__, "--memory-child", ",".join(methods)]
        command += ["--n", str(args.n), "--size", str(args.size)]
        command += ["--batch-size", str(args.batch_size), "--threads", str(args.threads)]
        found = []
        for _ in range(3):
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            before, after = out.split()[-2:]
            found.append((float(before), float(after)))
        return found

    def span(values: list[float]) -> str:
        return f"{min(values):7.1f}-{max(values):7.1f} MiB"

    print(f"peak RSS per process (3 processes each), {args.n} images built, 200 evaluated:")
    configurations = [(m,) for m in METHODS] + [METHODS]
    results = {c: peaks(c) for c in configurations}
    for methods, found in results.items():
        label = f"all {len(METHODS)} variants, one at a time" if len(methods) > 1 else methods[0]
        print(
            f"  dense + {label:34s} peak {span([a for _, a in found])}, "
            f"above the process before evaluating {span([a - b for b, a in found])}"
        )


if __name__ == "__main__":
    main()
