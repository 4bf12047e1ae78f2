"""Time paper 000's two CLIP workloads per compression method: zero-shot + retrieval on N images.

open_clip ViT-B-32 (random weights: the timing does not depend on them, and no download is
needed), N generated 224×224 images, FACET's 52 person classes as zero-shot prompts, and Q text
queries for retrieval (240 in paper 000). For each method (dense, bnb-int8, bnb-nf4,
torch-dynamic-int8) and each device (CPU, and CUDA when there is one) it prints the compression
time and the wall time of each workload as the library runs it: the task bound to the model
(text embeddings computed once, included in the time), the images scored batch by batch
(:func:`~pytest_fairquant.tasks.retrieval.iter_scores`), zero-shot finalised to predictions and
retrieval reduced to a streaming top-k (k = min(1000, N)), then the image throughput.

    .venv/bin/python benchmarks/bench_clip.py --n 32 --queries 240 --threads 2

A method whose backend cannot run on a device (e.g. a CUDA-only kernel) is listed with its reason.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

METHODS = ("dense", "bnb-int8", "bnb-nf4", "torch-dynamic-int8")
ADJECTIVES = (
    "good", "bad", "smart", "stupid", "honest", "dishonest", "kind", "cruel", "hardworking",
    "lazy", "friendly", "hostile", "trustworthy", "suspicious", "successful", "poor",
    "attractive", "ugly", "clean", "dirty", "safe", "dangerous", "leader", "follower",
)  # fmt: skip
NOUNS = (
    "person",
    "man",
    "woman",
    "face",
    "human",
    "individual",
    "citizen",
    "neighbour",
    "worker",
    "stranger",
)


def queries(n: int) -> list[str]:
    """``n`` (un)favourable captions in the spirit of Berg et al.'s prompt array (not their list)."""
    found = [f"a photo of a {a} {b}" for b in NOUNS for a in ADJECTIVES]
    if n > len(found):
        raise SystemExit(f"--queries can be at most {len(found)}")
    return found[:n]


def build(method: str, dense: Any, device: str) -> tuple[Any, float]:
    """The model for ``method`` on ``device`` and the seconds it took to make."""
    from pytest_fairquant.compression import compress
    from pytest_fairquant.errors import MethodUnavailable

    if device == "cuda" and method == "torch-dynamic-int8":
        raise MethodUnavailable(method, "PyTorch's dynamic int8 kernels run on the CPU only")
    start = time.perf_counter()
    model = dense.to(device) if method == "dense" else compress(dense.to(device), method)
    return model, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="images (default 32)")
    parser.add_argument(
        "--queries", type=int, default=240, help="retrieval text queries (default 240)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--devices", default="auto", help="comma list of cpu,cuda (auto: cpu, plus cuda if present)"
    )
    args = parser.parse_args()

    import numpy as np
    import open_clip
    import torch

    from pytest_fairquant.data.facet import FACET_CLASSES
    from pytest_fairquant.data.split import DemographicSplit
    from pytest_fairquant.errors import MethodUnavailable
    from pytest_fairquant.tasks.retrieval import RetrievalTask, iter_scores, streaming_topk
    from pytest_fairquant.tasks.zeroshot import ZeroShotTask

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = (
        ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
        if args.devices == "auto"
        else args.devices.split(",")
    )
    torch.manual_seed(0)
    dense = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    images = torch.randn(args.n, 3, 224, 224)
    rng = np.random.default_rng(0)
    split = DemographicSplit(
        rng.integers(0, len(FACET_CLASSES), args.n),
        {"gender": rng.choice(["f", "m"], args.n)},
        inputs=images,
    )
    zeroshot = ZeroShotTask(FACET_CLASSES, tokenizer=tokenizer)
    retrieval = RetrievalTask(queries(args.queries), tokenizer=tokenizer)

    print(
        f"open_clip ViT-B-32, {args.n} images, {len(FACET_CLASSES)} classes, {args.queries} queries, "
        f"batch {args.batch_size}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    # One untimed pass so the first method measured does not pay for lazy initialisation.
    streaming_topk(iter_scores(dense, split.subset([0]), zeroshot, device="cpu"), 1)
    header = f"{'device':<6} {'method':<20} {'compress s':>10} {'zero-shot s':>11} {'retrieval s':>11} {'img/s':>7}"
    print(header)
    print("-" * len(header))
    for device in devices:
        for method in args.methods.split(","):
            try:
                model, t_compress = build(method, dense, device)
            except MethodUnavailable as err:
                print(f"{device:<6} {method:<20} unavailable: {err.reason}")
                continue
            times = []
            for task in (zeroshot, retrieval):
                start = time.perf_counter()
                blocks = iter_scores(model, split, task, device=device, batch_size=args.batch_size)
                if task is zeroshot:
                    task.finalize(np.concatenate(list(blocks)))
                else:
                    streaming_topk(blocks, min(1000, args.n))
                times.append(time.perf_counter() - start)
            rate = 2 * args.n / sum(times)
            print(
                f"{device:<6} {method:<20} {t_compress:>10.2f} {times[0]:>11.2f} {times[1]:>11.2f} {rate:>7.1f}"
            )
            del model


if __name__ == "__main__":
    main()
