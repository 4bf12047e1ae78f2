"""The same sweep work in one process, on two torchrun gloo ranks and on two Ray workers.

The work is what ``fairquant sweep --methods uniform-int8`` evaluates before its gates: a
random-init resnet18 and its uniform-int8 variant, each built and predicted on one split of N
random images by ``FairnessRun.evaluate`` (compression, fingerprint, forward passes, noise
check; no disk cache). Three engines, run one after another in one invocation, with the single
process measured again at the end because the machine is shared:

- single: this process, torch's default threads;
- torchrun: ``--nproc_per_node=2`` gloo ranks (one thread each, torchrun's default), every rank
  building the variant and predicting its shard of each model, scores gathered in sample order;
  the gather's share of the predict time comes from the predictions' ``metadata["shards"]``;
- ray: a local two-CPU Ray; ``ray_evaluations`` (the ``--ray`` path) runs one task per model
  on warm workers (one CPU each); the slower task's predict time beside the round trip shows
  what compression, the object store and scheduling add.

Each figure is the median over ``--repeats`` timed inside the engine (process start, imports
and ``ray.init`` are printed apart); throughput is samples of the split per second over both
models, and ratios are against the first single-process figure.

    python benchmarks/bench_scale.py [--n 20000] [--size 32] [--batch-size 100] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pytest_fairquant import DemographicSplit
from pytest_fairquant.run import DENSE, Evaluation, FairnessRun
from pytest_fairquant.settings import resolve

METHOD = "uniform-int8"
#: The environment variable that makes this script a torchrun rank, holding its arguments.
RANK_ARGS = "FAIRQUANT_BENCH_SCALE_RANK"


def make_model() -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def make_split(n: int, size: int) -> DemographicSplit:
    x = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    return DemographicSplit(
        rng.integers(0, 1000, n),
        {"group": rng.choice(["a", "b", "c"], n)},
        inputs=x,
        class_names=[str(i) for i in range(1000)],
        name="noise-images",
    )


def make_run(batch_size: int) -> FairnessRun:
    """A fresh run each repeat: a run memoises its variants and predictions."""
    settings = resolve(
        {"device": "cpu", "batch_size": batch_size, "cache_dir": "", "methods": METHOD}, {}
    )
    return FairnessRun(settings)


def evaluate_here(
    model: torch.nn.Module, split: DemographicSplit, batch_size: int
) -> list[Evaluation]:
    run = make_run(batch_size)
    return [run.evaluate(model, split, name) for name in (DENSE, METHOD)]


def _predictions(evaluations: list[Evaluation]) -> list[Any]:
    found = [e.predictions for e in evaluations]
    failed = [e for e in evaluations if e.predictions is None]
    if failed:
        raise SystemExit(f"bench_scale: evaluation failed: {failed}")
    return found


def single(args: argparse.Namespace) -> dict[str, Any]:
    model, split = make_model(), make_split(args.n, args.size)
    walls = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        _predictions(evaluate_here(model, split, args.batch_size))
        walls.append(time.perf_counter() - start)
    return {"wall_s": statistics.median(walls), "threads": torch.get_num_threads()}


def rank_main(args: argparse.Namespace) -> None:
    """One torchrun rank: the work on this rank's shards; rank 0 writes the figures."""
    import torch.distributed as dist

    from pytest_fairquant import distributed

    model, split = make_model(), make_split(args.n, args.size)
    distributed.setup("cpu")
    walls, gather, predict = [], [], []
    for _ in range(args.repeats):
        dist.barrier()  # both ranks start the clock together
        start = time.perf_counter()
        found = _predictions(evaluate_here(model, split, args.batch_size))
        dist.barrier()
        walls.append(time.perf_counter() - start)
        gather.append(sum(p.metadata["shards"]["gather_s"] for p in found))
        predict.append(sum(p.metadata["wall_time_s"] for p in found))
    if distributed.is_writer():
        figures = {
            "wall_s": statistics.median(walls),
            "gather_share": statistics.median(g / p for g, p in zip(gather, predict, strict=True)),
            "threads": torch.get_num_threads(),
        }
        Path(args.rank_out).write_text(json.dumps(figures))
    dist.destroy_process_group()


def torchrun(args: argparse.Namespace) -> dict[str, Any]:
    launcher = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if launcher is None:
        raise SystemExit("bench_scale: torchrun is not installed beside this Python")
    with socket.socket() as free:  # torchrun's static rendezvous needs a free port
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.json"
        argv = [launcher, "--nproc_per_node=2", f"--master_port={port}", "--no-python"]
        # The ranks' arguments travel in the environment: torchrun would take --n for its own
        # abbreviated options.
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        env[RANK_ARGS] = json.dumps({**vars(args), "rank_out": str(out)})
        start = time.perf_counter()
        subprocess.run([*argv, sys.executable, __file__], check=True, env=env)
        figures: dict[str, Any] = json.loads(out.read_text())
        figures["launch_s"] = time.perf_counter() - start
    return figures


def on_ray(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from pytest_fairquant.ray_sweep import ray_evaluations

    start = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - start

    @ray.remote
    def warm() -> int:  # start both workers and import what a task needs, outside the clock
        import pytest_fairquant.evaluate  # noqa: F401

        time.sleep(1.0)  # holds its worker so that the second task starts the other one
        return os.getpid()

    start = time.perf_counter()
    ray.get([warm.remote(), warm.remote()])
    warm_s = time.perf_counter() - start
    model, split = make_model(), make_split(args.n, args.size)
    walls, in_task = [], []
    try:
        for _ in range(args.repeats):
            run = make_run(args.batch_size)
            start = time.perf_counter()
            with ray_evaluations(run, model, split, address=None) as evaluate:
                found = _predictions([evaluate(name) for name in (DENSE, METHOD)])
            walls.append(time.perf_counter() - start)
            in_task.append(max(p.metadata["wall_time_s"] for p in found))  # the slower task
    finally:
        ray.shutdown()
    wall = statistics.median(walls)
    return {
        "wall_s": wall,
        "slower_predict_s": statistics.median(in_task),
        "init_s": init_s,
        "warm_s": warm_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    if RANK_ARGS in os.environ:
        rank_main(argparse.Namespace(**json.loads(os.environ[RANK_ARGS])))
        return
    args = parser.parse_args()
    print(
        f"resnet18 dense + {METHOD}, {args.n} images {args.size}x{args.size}, batch "
        f"{args.batch_size}, median of {args.repeats}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    first = single(args)
    figures = {"single": first, "torchrun": torchrun(args), "ray": on_ray(args)}
    figures["single again"] = single(args)
    samples = 2 * args.n  # both models predict every sample
    print(f"\n{'engine':<14}{'wall s':>9}{'samples/s':>11}{'speed-up':>11}  notes")
    for name, f in figures.items():
        if name == "torchrun":
            notes = (
                f"2 ranks x {f['threads']} thread, gather {f['gather_share']:.1%} of predict, "
                f"launch+imports {f['launch_s']:.0f} s in all"
            )
        elif name == "ray":
            notes = (
                f"2 workers, the slower task's predict {f['slower_predict_s']:.1f} s of the "
                f"round trip, ray.init {f['init_s']:.1f} s, warm-up {f['warm_s']:.1f} s"
            )
        else:
            notes = f"{f['threads']} torch threads"
        print(
            f"{name:<14}{f['wall_s']:>9.1f}{samples / f['wall_s']:>11.0f}"
            f"{first['wall_s'] / f['wall_s']:>10.2f}x  {notes}"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
