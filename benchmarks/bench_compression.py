"""Compression wall time and size reduction per method, for resnet18 and open_clip ViT-B-32.

Both models randomly initialised (no downloads). Times are ``CompressionInfo.wall_time_s`` (the
method's own work, after the deep copy) and the full ``compress()`` call (deep copy, dense
fingerprint, byte and sparsity measurement included). Bytes are parameters + buffers as stored
(an ONNX variant: its initializers): simulated methods (uniform, k-means, pruning) keep float
storage, so their "effective" column counts each converted weight at the method's nominal bits
instead. "share" is ``compressed_share``: the converted weights' elements over all parameters.

Methods that calibrate (static-int8, onnx-int8-*, gptq-int4) get ``--calibration`` random
224x224 images; ``gmp-0.5`` gets ``--finetune-steps`` SGD steps on a random batch (a stand-in
for the user's loop: its time is the schedule's and the steps' cost, not a recovery). A method
that is not installed or needs CUDA is a ``skipped: reason`` row, one that fails an ``error:``
row. On a CUDA machine the bnb methods are also run with the model on the GPU.

    python benchmarks/bench_compression.py [--threads N] [--models resnet18,vit-b-32]
        [--methods a,b] [--calibration 16] [--finetune-steps 10]
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pytest_fairquant.compression import FineTune, compress, needs_calibration
from pytest_fairquant.errors import FairquantError, MethodUnavailable

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
    "static-int8",
    "onnx-int8-static",
    "onnx-int8-dynamic",
    "quanto-int8",
    "quanto-int4",
    "hqq-int4",
    "torchao-int4-weight",
    "gptq-int4",
    "gmp-0.5",
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


def _first_tensor(output: Any) -> torch.Tensor:
    """The first tensor of a model's output (open_clip's CLIP returns a tuple or a dict)."""
    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if isinstance(output, dict) else output
    return next(v for v in values if isinstance(v, torch.Tensor))


def random_steps(model: nn.Module, batch: torch.Tensor, steps: int) -> None:
    """``steps`` SGD steps pulling the outputs on ``batch`` towards zero: the cost of a loop."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        _first_tensor(model(batch)).float().pow(2).mean().backward()
        optimizer.step()


def options(method_id: str, args: argparse.Namespace, device: str) -> dict[str, Any]:
    images = torch.randn(args.calibration, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    if needs_calibration(method_id):
        return {"calibration": images}
    if method_id.startswith("gmp-"):
        batch = images[:4].to(device)
        return {"finetune": FineTune(random_steps, batch, steps=args.finetune_steps)}
    return {}


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 160 else text[:157] + "..."


def run(
    model_name: str, device: str, methods: tuple[str, ...], args: argparse.Namespace
) -> list[tuple[str, ...]]:
    dense = MODELS[model_name]().to(device)
    rows = []
    for method_id in methods:
        start = time.perf_counter()
        try:
            variant = compress(dense, method_id, **options(method_id, args, device))
        except MethodUnavailable as err:
            rows.append((model_name, device, method_id, f"skipped: {_short(err)}"))
        except FairquantError as err:
            rows.append((model_name, device, method_id, f"error: {_short(err)}"))
        else:
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
                    f"{info.compressed_share:.1%}",
                    f"{info.sparsity:.3f}",
                    f"{len(info.converted)}/{len(info.skipped)}",
                )
            )
            del variant
        print(" | ".join(rows[-1]), flush=True)
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
    "share",
    "sparsity",
    "converted/skipped",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="resnet18,vit-b-32")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--calibration", type=int, default=16, help="calibration images")
    parser.add_argument("--finetune-steps", type=int, default=10, help="gmp-S's steps")
    args = parser.parse_args()
    # Library chatter that says nothing about the figures (torchao's float max pooling...).
    warnings.filterwarnings("ignore", category=UserWarning)
    # A low compressed share is worth seeing beside its row (onnxruntime and quanto would
    # otherwise switch the logging format half-way).
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING, force=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{args.threads} thread(s), CUDA: {torch.cuda.is_available()}"
    )
    print(" | ".join(HEADER))
    print(" | ".join("---" for _ in HEADER))
    methods = tuple(args.methods.split(","))
    for model_name in args.models.split(","):
        run(model_name, "cpu", methods, args)
        if torch.cuda.is_available():
            run(model_name, "cuda", tuple(m for m in CUDA_METHODS if m in methods), args)


if __name__ == "__main__":
    main()
