"""Compression wall time and size reduction per method, for resnet18 and open_clip ViT-B-32.

Both models randomly initialised (no downloads). Times are ``CompressionInfo.wall_time_s`` (the
method's own work, after the deep copy) and the full ``compress()`` call (deep copy, dense
fingerprint, byte and sparsity measurement included). Bytes are parameters + buffers as stored:
simulated methods (uniform, k-means, pruning) keep float storage, so their "effective" column
counts each converted weight at the method's nominal bits instead. On a CUDA machine the bnb
methods are also run with the model on the GPU.

    python benchmarks/bench_compression.py [--threads N] [--models resnet18,vit-b-32]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

from pytest_fairquant.compression import compress

METHODS = (
    "bnb-int8",
    "bnb-nf4",
    "bnb-fp4",
    "torch-dynamic-int8",
    "torchao-int8-weight",
    "torchao-int8-dynamic",
    "uniform-int8",
    "uniform-int4",
    "fp16",
    "bf16",
    "kmeans-16",
    "global-magnitude-0.5",
    "l1-unstructured-0.5",
    "ln-structured-0.5",
    "nm-2:4",
)
CUDA_METHODS = ("bnb-int8", "bnb-nf4", "bnb-fp4")


def resnet18() -> nn.Module:
    import torchvision

    return torchvision.models.resnet18(weights=None).eval()


def vit_b32() -> nn.Module:
    import open_clip

    return open_clip.create_model("ViT-B-32", pretrained=None).eval()


MODELS: dict[str, Callable[[], nn.Module]] = {"resnet18": resnet18, "vit-b-32": vit_b32}


def effective_bytes(variant: nn.Module) -> int:
    """Stored bytes with every converted float weight counted at the method's nominal bits."""
    info = variant.fairquant_info
    if (
        info.weight_bits is None
        or info.family != "quantization"
        or info.bytes_after < info.bytes_before
    ):
        return int(info.bytes_after)
    inner = getattr(variant, "module", variant)
    saved = 0
    for name in info.converted:
        owner, _, attr = (
            name.rpartition(".") if name.endswith("_proj_weight") else (name, "", "weight")
        )
        weight = getattr(inner.get_submodule(owner), attr)
        saved += weight.numel() * (weight.element_size() - info.weight_bits / 8)
    return int(info.bytes_after - saved)


def run(model_name: str, device: str, methods: tuple[str, ...]) -> list[tuple[str, ...]]:
    dense = MODELS[model_name]().to(device)
    rows = []
    for method_id in methods:
        start = time.perf_counter()
        variant = compress(dense, method_id)
        total = time.perf_counter() - start
        info = variant.fairquant_info
        eff = effective_bytes(variant)
        rows.append(
            (
                model_name,
                device if info.device.startswith(device) else f"{device}->{info.device}",
                method_id,
                f"{info.wall_time_s:.2f}",
                f"{total:.2f}",
                f"{info.bytes_before / 2**20:.1f}",
                f"{info.bytes_after / 2**20:.1f}",
                f"{info.size_ratio:.2f}",
                f"{info.bytes_before / eff:.2f}",
                f"{info.sparsity:.3f}",
                f"{len(info.converted)}/{len(info.skipped)}",
            )
        )
        print(" | ".join(rows[-1]), flush=True)
        del variant
    return rows


HEADER = (
    "model",
    "device",
    "method",
    "apply s",
    "compress() s",
    "MiB before",
    "MiB after",
    "ratio",
    "effective ratio",
    "sparsity",
    "converted/skipped",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="resnet18,vit-b-32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{args.threads} thread(s), CUDA: {torch.cuda.is_available()}"
    )
    print(" | ".join(HEADER))
    print(" | ".join("---" for _ in HEADER))
    for model_name in args.models.split(","):
        run(model_name, "cpu", METHODS)
        if torch.cuda.is_available():
            run(model_name, "cuda", CUDA_METHODS)


if __name__ == "__main__":
    main()
