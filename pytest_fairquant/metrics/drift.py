"""How far a compressed model moved from its dense original (paper 002 sec. 4; Hooker et al.):
weight distance and sparsity, per-group logit drift, flips, and compression-identified exemplars.

Weights come as a torch module (parameters; a pruned ``weight_orig``/``weight_mask`` pair counts
as the masked weight), a state dict (or any name → array mapping) or one array.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._arrays import as_array, as_finite, as_labels
from ..errors import InputError
from ._inputs import MSG_SHAPE
from .report import GroupReport, per_sample_report

MSG_WEIGHT_KEYS = (
    "dense and compressed weights differ in names: only in dense {dense_only}, only in compressed "
    "{compressed_only}; compare the same architecture (dequantize packed weights first)"
)
MSG_WEIGHT_SHAPE = "weight {key!r} has shape {dense} in dense but {compressed} in compressed; compare the same architecture"
MSG_NO_WEIGHTS = "{name} holds no floating-point weights"
MSG_LOGITS = "{name} must be a 2-D (samples, classes) matrix of logits; got shape {shape}"
MSG_POPULATION = "{name} must be labels of shape (n,) or (models, n); got shape {shape}"


def _named_weights(obj: Any, name: str) -> dict[str, NDArray[np.float64]]:
    if hasattr(obj, "named_modules") and hasattr(obj, "named_parameters"):  # a torch module
        out: dict[str, NDArray[np.float64]] = {}
        for prefix, module in obj.named_modules():
            for param_name, _ in module.named_parameters(recurse=False):
                # torch.nn.utils.prune keeps the dense tensor as *_orig; the attribute is masked
                base = param_name.removesuffix("_orig")
                key = f"{prefix}.{base}" if prefix else base
                out[key] = np.asarray(as_array(getattr(module, base), name=name), dtype=np.float64)
        return out
    if isinstance(obj, Mapping):
        arrays = {str(k): as_array(v, name=f"{name}[{k!r}]") for k, v in obj.items()}
        out = {}
        for key, arr in arrays.items():
            if key.endswith("_mask") or arr.dtype.kind != "f":
                continue
            mask = (
                arrays.get(key.removesuffix("_orig") + "_mask") if key.endswith("_orig") else None
            )
            out[key.removesuffix("_orig") if mask is not None else key] = np.asarray(
                arr if mask is None else arr * mask, dtype=np.float64
            )
        return out
    return {"": as_finite(obj, name=name)}


def weight_abs_difference(dense: Any, compressed: Any) -> float:
    """Σ_k |θ̃_k − θ_k| over every weight (paper 002, eq. 5)."""
    a, b = _named_weights(dense, "dense"), _named_weights(compressed, "compressed")
    if a.keys() != b.keys():
        raise InputError(
            MSG_WEIGHT_KEYS.format(
                dense_only=sorted(a.keys() - b.keys()), compressed_only=sorted(b.keys() - a.keys())
            )
        )
    total = 0.0
    for key, wa in a.items():
        wb = b[key]
        if wa.shape != wb.shape:
            raise InputError(MSG_WEIGHT_SHAPE.format(key=key, dense=wa.shape, compressed=wb.shape))
        total += float(np.abs(wb - wa).sum())
    return total


def sparsity(weights: Any) -> float:
    """Share of weights exactly 0 (paper 002, eq. 6)."""
    named = _named_weights(weights, "weights")
    size = sum(w.size for w in named.values())
    if size == 0:
        raise InputError(MSG_NO_WEIGHTS.format(name="weights"))
    return float(sum(int((w == 0).sum()) for w in named.values()) / size)


def _logits(x: Any, name: str, n: int | None = None) -> NDArray[np.float64]:
    arr = as_finite(x, name=name, n=n)
    if arr.ndim != 2:
        raise InputError(MSG_LOGITS.format(name=name, shape=arr.shape))
    return arr


def logits_cosine_distance(
    dense_logits: Any, compressed_logits: Any, *, sensitive_features: Any, sample_weight: Any = None
) -> GroupReport:
    """Per sample 1 − cos(z_dense, z_compressed), averaged per group (paper 002, eq. 7-8)."""
    dense = _logits(dense_logits, "dense_logits")
    compressed = _logits(compressed_logits, "compressed_logits", n=len(dense))
    if compressed.shape != dense.shape:
        raise InputError(
            MSG_SHAPE.format(name="compressed_logits", got=compressed.shape, want=dense.shape)
        )
    norms = np.linalg.norm(dense, axis=1) * np.linalg.norm(compressed, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = 1.0 - (dense * compressed).sum(axis=1) / norms
    return per_sample_report(
        "logit_cosine_distance",
        distance,
        sensitive_features=sensitive_features,
        sample_weight=sample_weight,
    )


def logit_variance(
    logits: Any, *, sensitive_features: Any, sample_weight: Any = None
) -> GroupReport:
    """Per-sample variance of the logits over classes (ddof 0), averaged per group (paper 002, eq. 9)."""
    z = _logits(logits, "logits")
    return per_sample_report(
        "logit_variance",
        z.var(axis=1),
        sensitive_features=sensitive_features,
        sample_weight=sample_weight,
    )


def flip_rate(
    base_pred: Any, compressed_pred: Any, *, sensitive_features: Any, sample_weight: Any = None
) -> GroupReport:
    """Share of samples whose predicted label changed (churn), per group."""
    base = as_labels(base_pred, name="base_pred")
    compressed = as_labels(
        compressed_pred, name="compressed_pred", n=len(base), ref_name="base_pred"
    )
    if compressed.shape != base.shape:
        raise InputError(
            MSG_SHAPE.format(name="compressed_pred", got=compressed.shape, want=base.shape)
        )
    flipped = (base != compressed).astype(np.float64)
    return per_sample_report(
        "flip_rate", flipped, sensitive_features=sensitive_features, sample_weight=sample_weight
    )


def _population(x: Any, name: str, n: int | None = None) -> NDArray[np.int64]:
    labels = as_labels(x, name=name)
    labels = labels[None, :] if labels.ndim == 1 else labels
    if labels.ndim != 2 or (n is not None and labels.shape[1] != n) or (labels < 0).any():
        raise InputError(MSG_POPULATION.format(name=name, shape=labels.shape))
    return labels


def _modal_label(population: NDArray[np.int64], n_classes: int) -> NDArray[np.int64]:
    """Most frequent label per sample over the models; ties go to the smallest label."""
    n = population.shape[1]
    keys = (np.arange(n) * n_classes + population).ravel()
    votes = np.bincount(keys, minlength=n * n_classes).reshape(n, n_classes)
    return np.asarray(votes.argmax(axis=1), dtype=np.int64)


def compression_identified_exemplars(dense_pred: Any, compressed_pred: Any) -> NDArray[np.bool_]:
    """CIEs (Hooker et al.): samples whose modal dense label differs from the modal compressed one.

    Each argument is (n,) labels of one model or (models, n) labels of a population; with one
    model each, the CIEs are the flips.
    """
    dense = _population(dense_pred, "dense_pred")
    compressed = _population(compressed_pred, "compressed_pred", n=dense.shape[1])
    n_classes = int(max(dense.max(), compressed.max())) + 1
    return np.asarray(_modal_label(dense, n_classes) != _modal_label(compressed, n_classes))
