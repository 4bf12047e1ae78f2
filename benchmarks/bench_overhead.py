"""Harness overhead of ``predict`` (with the prediction cache) over bare forward passes.

resnet18 (random init) dense + 4 compressed variants on N random images: each model is run
through ``predict(..., cache=<fresh PredictionCache on disk>)`` (device checks, fingerprint,
deterministic state, collate, score concatenation, finalize, noise check, atomic npz write) and
as a bare ``inference_mode`` loop over the same batches, side by side: the two are interleaved
model by model, repeated, and the medians of the per-repeat totals compared. Compression time is
measured once per method and reported apart. Then peak memory of ``evaluate_variants`` with 4
variants against 1 (RSS above the starting point on the CPU, allocated bytes on CUDA).

    python benchmarks/bench_overhead.py [--n 2000] [--size 32] [--batch-size 100] [--repeats 3]

Images are 32×32 by default: full 224² resnet18 on 2,000 images takes minutes per model on
this 2-core machine; the ratio is what matters and a smaller resolution makes it stricter (the
fixed harness costs weigh more against cheaper forwards).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import torch

from pytest_fairquant import DemographicSplit
from pytest_fairquant.cache import PredictionCache
from pytest_fairquant.compression import compress
from pytest_fairquant.evaluate import (
    evaluate_variants,
    peak_memory_bytes,
    predict,
    reset_peak_memory,
)

METHODS = ("uniform-int8", "torch-dynamic-int8", "global-magnitude-0.5", "kmeans-16")


def bare(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> None:
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            model(x[start : start + batch_size].to(device)).float().cpu()


def rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


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
    print(
        f"resnet18, {args.n} images {args.size}x{args.size}, batch {args.batch_size}, "
        f"{args.repeats} repeats, {args.threads} thread(s), {device}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )

    if args.memory_only:
        memory(dense, split, args.batch_size, "cuda" if device.type == "cuda" else "cpu")
        return
    models: dict[str, Any] = {"dense": dense}
    print("\ncompression time (reported apart from evaluation):")
    for method in METHODS:
        start = time.perf_counter()
        models[method] = compress(dense, method)
        print(f"  {method:22s} {time.perf_counter() - start:7.2f} s")

    harness: list[float] = []
    forward: list[float] = []
    for repeat in range(args.repeats):
        h_total = f_total = 0.0
        for name, model in models.items():
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
                    h_total += time.perf_counter() - start
                else:
                    # torch.ao dynamic int8 runs on the CPU only; predict keeps it there too.
                    where = torch.device("cpu") if name == "torch-dynamic-int8" else device
                    bare(model.to(where), x, args.batch_size, where)
                    f_total += time.perf_counter() - start
        harness.append(h_total)
        forward.append(f_total)
        print(f"  repeat {repeat}: predict+cache {h_total:7.2f} s, bare forward {f_total:7.2f} s")
    h, f = statistics.median(harness), statistics.median(forward)
    print(
        f"\nharness overhead: predict with cache {h:.2f} s / bare forward {f:.2f} s = "
        f"{h / f:.3f}x (target <= 1.15x; medians of {args.repeats} interleaved repeats, 5 models); "
        f"median per-repeat ratio {statistics.median(a / b for a, b in zip(harness, forward, strict=True)):.3f}x"
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
    memory(dense, split, args.batch_size, "cuda" if device.type == "cuda" else "cpu")


def memory(dense: torch.nn.Module, split: DemographicSplit, batch_size: int, dev: str) -> None:
    """Peak of all variants in one ``evaluate_variants`` call against each variant alone.

    Methods differ in their working memory (a global magnitude threshold sorts every weight,
    k-means keeps distance matrices), so "dense + one variant" is the largest single-method
    peak; kept-alive variants would add a model size per method on top of it.
    """
    small = split.subset(np.arange(min(200, len(split))))
    evaluate_variants(dense, METHODS[:1], small, batch_size=batch_size, progress=False)

    def peak(methods: tuple[str, ...]) -> float:
        readings = []
        for _ in range(3):  # the least of three: allocator reuse moves single readings
            base = rss()
            reset_peak_memory()
            evaluate_variants(dense, methods, small, batch_size=batch_size, progress=False)
            readings.append(peak_memory_bytes(dev) - (0 if dev == "cuda" else base))
        return min(readings) / 2**20

    alone = {m: peak((m,)) for m in METHODS}
    together = peak(METHODS)
    dense_mib = sum(p.numel() * p.element_size() for p in dense.parameters()) / 2**20
    print(
        f"peak memory above start ({'CUDA allocated' if dev == 'cuda' else 'RSS'}, least of 3), "
        f"dense weights {dense_mib:.1f} MiB:"
    )
    for method, mib in alone.items():
        print(f"  dense + {method:22s} alone   {mib:7.1f} MiB")
    print(
        f"  dense + all {len(METHODS)} variants, one at a time {together:7.1f} MiB "
        f"(largest single {max(alone.values()):.1f} MiB; kept alive would add about "
        f"{dense_mib * (len(METHODS) - 1):.0f} MiB)"
    )


if __name__ == "__main__":
    main()
