"""Issue 13's checks as figures (docs/examples.md quotes this script's output).

(a) resnet18 (torchvision, random init) under static-int8: its Conv2d and Linear modules, and how
    many of them the converted graph computes from int8 weights.
(b) the trained digits CNN of examples/vision_digits: dense, static-int8 and uniform-int2
    accuracy on the 697 held-out digits.
(c) 90% sparsity on the same CNN: one-shot global-magnitude-0.9, the same followed by recovery
    fine-tuning with its masks fixed, and gmp-0.9 (sparsity raised on the cubic schedule over
    the same fine-tuning steps); measured sparsity and accuracy.

Calibration (static-int8) and fine-tuning (``digits_model.finetune``) use the example's
training digits, so every accuracy is on the same held-out samples as the example's own table.

    .tox/fairquant/bin/python benchmarks/digits_compression.py [--steps 300]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "vision_digits"))

from digits_model import finetune, load_model, load_split, training_split

from pytest_fairquant import DemographicSplit
from pytest_fairquant.compression import FineTune, compress, compression_info
from pytest_fairquant.compression.pt2e import quantized_layers
from pytest_fairquant.evaluate import predict


def resnet18_static_int8() -> None:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    counts = {
        kind.__name__: sum(isinstance(m, kind) for m in model.modules())
        for kind in (nn.Conv2d, nn.Linear)
    }
    start = time.perf_counter()
    variant = compress(model, "static-int8", calibration=torch.randn(16, 3, 224, 224))
    seconds = time.perf_counter() - start
    info = compression_info(variant)
    graph = variant.graph_module  # type: ignore[attr-defined]
    from_int8 = set(quantized_layers(graph))
    layers = {n: type(m).__name__ for n, m in model.named_modules()}
    quantized = {kind: sum(layers.get(n) == kind for n in from_int8) for kind in counts}
    print(f"(a) resnet18, static-int8 calibrated on 16 random 224x224 images ({seconds:.1f} s)")
    for kind, total in counts.items():
        print(f"    {kind}: {total} modules, {quantized[kind]} computed from int8 weights")
    print(
        f"    info.converted {len(info.converted)}, skipped {len(info.skipped)}, "
        f"compressed_share {info.compressed_share:.4f}, "
        f"{info.bytes_before / 2**20:.1f} -> {info.bytes_after / 2**20:.1f} MiB"
    )


def by_group(model: nn.Module, split: DemographicSplit) -> dict[str, Any]:
    pred = predict(model, split, device="cpu", progress=False, noise_check=0).pred
    hit = pred == np.asarray(split.labels)
    marker = np.asarray(split.sensitive_features("marker"))
    accs = {g: float(hit[marker == g].mean()) for g in ("plain", "inverted")}
    fvo = abs(accs["plain"] - accs["inverted"])
    return {"overall": float(hit.mean()), **accs, "fvo": fvo, "pred": pred}


def row(name: str, model: nn.Module, split: DemographicSplit, dense: dict[str, Any]) -> None:
    acc = by_group(model, split)
    changed = int((acc["pred"] != dense["pred"]).sum())
    info = getattr(model, "fairquant_info", None)
    sparsity = f"{info.sparsity:.3f}" if info is not None and info.family == "pruning" else ""
    tuned = info.details.get("finetune", {}) if info is not None else {}
    loss = (
        f"{tuned['loss_before']:.3f} -> {tuned['loss_after']:.3f}" if "loss_after" in tuned else ""
    )
    print(
        f"| {name} | {acc['overall']:.3f} | {acc['overall'] - dense['overall']:+.3f} | {changed} | "
        f"{acc['plain']:.3f} | {acc['inverted']:.3f} | {acc['fvo']:.3f} | {sparsity} | {loss} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps (c)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # The quantizer says once that max pooling of a float input stays float; expected here.
    warnings.filterwarnings("ignore", message="The input of maxpool2d is not quantized")
    print(f"torch {torch.__version__}, 1 thread")
    resnet18_static_int8()

    model, split, train = load_model(), load_split(), training_split()
    dense = by_group(model, split)
    tune = FineTune(finetune, train, steps=args.steps)
    print(
        f"\n(b), (c) digits CNN, {len(split)} held-out digits; static-int8 calibrated and "
        f"fine-tuning ({args.steps} steps of 64) on the {len(train)} training digits"
    )
    header = (
        "variant",
        "accuracy",
        "vs dense",
        "predictions changed",
        "plain",
        "inverted",
        "FVO",
        "sparsity",
        "loss",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    row("dense", model, split, dense)
    row("static-int8", compress(model, "static-int8", calibration=train), split, dense)
    row("uniform-int2", compress(model, "uniform-int2"), split, dense)
    row("global-magnitude-0.9 (one-shot)", compress(model, "global-magnitude-0.9"), split, dense)
    tuned = compress(model, "global-magnitude-0.9", finetune=tune)
    row(f"global-magnitude-0.9 + {args.steps} steps, masks fixed", tuned, split, dense)
    row(f"gmp-0.9 over {args.steps} steps", compress(model, "gmp-0.9", finetune=tune), split, dense)


if __name__ == "__main__":
    main()
