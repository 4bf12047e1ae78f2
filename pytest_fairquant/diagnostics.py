"""Why a gate failed: per-group diagnostics of a dense model and its compressed variant.

:func:`diagnose` computes, per group of one sensitive attribute and for both models, paper
002's loss, true-class probability, logit variance and logit cosine distance (eq. 7-9), the
group gradient norm ||G_g|| (eq. 10-11: the gradient of the group's mean loss over its test
samples, no weight update) and the largest Hessian eigenvalue λmax(H_g) of that loss (power
iteration on Hessian-vector products by double backward, seeded, a fixed number of iterations
with a relative tolerance); and paper 004's TCB, ECE, uncertainty share and flips (dense right
and compressed wrong, and the reverse), plus the label interrelation R² of multi-label models.

Quantized backends whose forward is not differentiable (bitsandbytes, torchao, torch.ao dynamic
int8) get the gradient and Hessian diagnostics from their dequantized float equivalent: a copy
of the dense model holding the variant's dequantized weights. The :class:`Diagnosis` says so in
``dequantized`` and ``notes``; a model whose gradients cannot be had at all gets NaN with the
reason, never an exception.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from .data.split import DemographicSplit
from .errors import InputError
from .undefined import Undefined

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .predictions import Predictions
    from .tasks.base import Task

__all__ = [
    "MSG_KIND",
    "MSG_SETTINGS",
    "Diagnosis",
    "GroupDiagnosis",
    "HessianEstimate",
    "diagnose",
    "float_equivalent",
    "group_gradient_norm",
    "hessian_lambda_max",
]

MSG_KIND = (
    "diagnose() needs a classification task (binary, multiclass or multilabel logits); the "
    "task is {kind!r}, whose outputs have no per-sample loss"
)
MSG_SETTINGS = "{name} must be a positive {kind}; got {value!r}"
NOTE_DEQUANTIZED = (
    "the compressed model ({backend}) is not differentiable: its gradient norms and Hessian "
    "eigenvalues are those of its dequantized float equivalent (the dense architecture holding "
    "the variant's dequantized weights)"
)
NOTE_FALLBACK = (
    "the compressed model's own forward could not be differentiated ({error}); its gradient "
    "norms and Hessian eigenvalues are those of its dequantized float equivalent"
)
NOTE_NO_GRADIENT = "no gradients for the {model} model: {error}"
NOTE_SUBSAMPLE = "diagnosed a stratified subsample of {n} of {total} samples (max_samples={max})"
NOTE_TCB = "TCB is defined for binary tasks (paper 004, sec. 2.3); this task is {kind}"

#: The metrics each group gets, in the order reports show them.
FIELDS = (
    "loss",
    "true_class_prob",
    "logit_variance",
    "logit_cosine_distance",
    "grad_norm",
    "hessian_lambda_max",
    "tcb",
    "ece",
    "uncertainty",
)
#: How the flips of a group are counted (the pair's 2 × 2 table of correctness).
FLIP_KEYS = (
    "dense_right_compressed_wrong",
    "dense_wrong_compressed_right",
    "both_right",
    "both_wrong",
)


def _plain(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class HessianEstimate:
    """λmax of one group's loss by power iteration: the value, iterations used, convergence."""

    value: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class GroupDiagnosis:
    """One group's diagnostics for one model (``diagnosis.by_group[g]`` or ``dense_by_group[g]``).

    ``flips`` counts the pair's outcomes in the group (the same table for both models).
    ``hessian_iterations`` is the number of power iterations λmax took (0 when not computed).
    Fields can also be read by name: ``by_group[g]["loss"]``.
    """

    n: int
    loss: float
    true_class_prob: float
    logit_variance: float
    logit_cosine_distance: float
    grad_norm: float
    hessian_lambda_max: float
    tcb: float
    ece: float
    uncertainty: float
    flips: Mapping[str, int]
    hessian_iterations: int = 0
    hessian_converged: bool = False

    def __getitem__(self, name: str) -> Any:
        if name not in {f.name for f in fields(self)}:
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n}
        undefined: dict[str, dict[str, str]] = {}
        for name in FIELDS:
            value = getattr(self, name)
            out[name] = _plain(value)
            if isinstance(value, Undefined):
                undefined[name] = value.to_dict()
        out["flips"] = {k: int(v) for k, v in self.flips.items()}
        out["hessian_iterations"] = self.hessian_iterations
        out["hessian_converged"] = self.hessian_converged
        out["undefined"] = undefined
        return out


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found, per group, for the compressed and the dense model.

    ``by_group`` is the compressed model's, ``dense_by_group`` the dense one's. ``iterations``
    is ``{"dense": {group: n}, "compressed": {group: n}}``: the power iterations λmax used.
    ``dequantized`` is True when the compressed model's gradient diagnostics come from its
    dequantized float equivalent; ``notes`` say that and anything else a reader must know.
    """

    attribute: str
    task: str
    method: str
    n: int
    groups: tuple[str, ...]
    by_group: Mapping[str, GroupDiagnosis]
    dense_by_group: Mapping[str, GroupDiagnosis]
    iterations: Mapping[str, Mapping[str, int]]
    dequantized: bool
    notes: tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    label_interrelation: Mapping[str, tuple[float, ...]] | None = None

    def worst_group(self, metric: str = "loss") -> str:
        """The group whose ``metric`` rose most from dense to compressed."""
        rises = {
            g: self.by_group[g][metric] - self.dense_by_group[g][metric]
            for g in self.groups
            if not math.isnan(self.by_group[g][metric] - self.dense_by_group[g][metric])
        }
        return max(rises, key=lambda g: rises[g]) if rises else self.groups[0]

    def summary_line(self) -> str:
        """One line for a failing gate's message: the group that lost most and why it did."""
        g = self.worst_group("loss")
        c, d = self.by_group[g], self.dense_by_group[g]
        flips = c.flips
        parts = [f"loss {d.loss:.3g}→{c.loss:.3g}"]
        for name, label in (("grad_norm", "‖G‖"), ("hessian_lambda_max", "λmax")):
            if not math.isnan(c[name]) and not math.isnan(d[name]):
                parts.append(f"{label} {d[name]:.3g}→{c[name]:.3g}")
        if not math.isnan(c.uncertainty):
            parts.append(f"uncertain {d.uncertainty:.0%}→{c.uncertainty:.0%}")
        parts.append(
            f"{flips['dense_right_compressed_wrong']} harmed / "
            f"{flips['dense_wrong_compressed_right']} helped of {c.n}"
        )
        tail = " (gradients of the dequantized equivalent)" if self.dequantized else ""
        return f"diagnosis ({self.attribute}): group {g!r}: " + ", ".join(parts) + tail

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain floats, NaN as null with its reason under ``undefined``."""
        return {
            "attribute": self.attribute,
            "task": self.task,
            "method": self.method,
            "n": self.n,
            "groups": list(self.groups),
            "by_group": {g: d.to_dict() for g, d in self.by_group.items()},
            "dense_by_group": {g: d.to_dict() for g, d in self.dense_by_group.items()},
            "iterations": {m: dict(per) for m, per in self.iterations.items()},
            "dequantized": self.dequantized,
            "notes": list(self.notes),
            "settings": dict(self.settings),
            "label_interrelation": None
            if self.label_interrelation is None
            else {m: [_plain(v) for v in vals] for m, vals in self.label_interrelation.items()},
        }


# ----------------------------------------------------------------------------- losses


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """Cross-entropy per sample: softmax over (n, C ≥ 2) logits, logistic for (n, 1) logits
    and per label (averaged over labels) for multi-label."""
    from torch.nn import functional

    if kind == "multilabel":
        target = labels.to(logits.dtype)
        return functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(
            dim=1
        )
    if logits.ndim == 1 or logits.shape[1] == 1:
        return functional.binary_cross_entropy_with_logits(
            logits.reshape(-1), labels.to(logits.dtype), reduction="none"
        )
    return functional.cross_entropy(logits, labels.long(), reduction="none")


def _true_class_prob(probs: NDArray[np.float64], labels: NDArray[np.int64], kind: str) -> Any:
    if kind == "multilabel":
        return np.where(labels == 1, probs, 1.0 - probs).mean(axis=1)
    return probs[np.arange(len(labels)), labels]


# ----------------------------------------------------------------------------- gradients


def _group_batches(
    split: DemographicSplit, rows: NDArray[np.int64], task: Task, batch_size: int, device: Any
) -> Iterator[tuple[Any, torch.Tensor]]:
    import torch

    from .evaluate import to_device

    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = to_device(task.collate(split.input_batch(chunk)), device)
        labels = torch.as_tensor(split.labels[chunk], device=device)
        yield batch, labels


def _parameters(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.is_floating_point()]


class _GroupLoss:
    """The mean loss of one group over its samples, differentiable in ``params``, in batches."""

    def __init__(
        self,
        model: nn.Module,
        split: DemographicSplit,
        rows: NDArray[np.int64],
        task: Task,
        batch_size: int,
        device: Any,
    ) -> None:
        self.model, self.split, self.rows = model, split, rows
        self.task, self.batch_size, self.device = task, batch_size, device
        self.forward = task.bind(model, device)
        self.params = _parameters(model)

    def batches(self) -> Iterator[tuple[float, torch.Tensor]]:
        """(share of the group, mean loss of the batch with its graph) per batch."""
        for batch, labels in _group_batches(
            self.split, self.rows, self.task, self.batch_size, self.device
        ):
            logits = self.forward(batch)
            loss = per_sample_loss(logits, labels, self.task.kind).mean()
            yield len(labels) / len(self.rows), loss

    def gradient(self) -> list[torch.Tensor]:
        import torch

        total = [torch.zeros_like(p) for p in self.params]
        for share, loss in self.batches():
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
            for acc, g in zip(total, grads, strict=True):
                if g is not None:
                    acc.add_(g.detach(), alpha=share)
        return total

    def hvp(self, vector: list[torch.Tensor]) -> list[torch.Tensor]:
        import torch

        total = [torch.zeros_like(p) for p in self.params]
        for share, loss in self.batches():
            grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
            pairs = [(g, v) for g, v in zip(grads, vector, strict=True) if g is not None]
            dot = sum((g * v).sum() for g, v in pairs)
            if not isinstance(dot, torch.Tensor) or not dot.requires_grad:
                continue
            hv = torch.autograd.grad(dot, self.params, allow_unused=True)
            for acc, h in zip(total, hv, strict=True):
                if h is not None:
                    acc.add_(h.detach(), alpha=share)
        return total


def _norm(tensors: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float((t.double() ** 2).sum()) for t in tensors))


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return sum(float((x.double() * y.double()).sum()) for x, y in zip(a, b, strict=True))


def group_gradient_norm(loss: _GroupLoss) -> float:
    """||∇θ L_g|| (paper 002, eq. 10-11) over every floating-point parameter."""
    return _norm(loss.gradient())


def hessian_lambda_max(
    loss: _GroupLoss, *, max_iterations: int, tolerance: float, seed: int
) -> HessianEstimate:
    """Largest eigenvalue of ∇²θ L_g by power iteration on Hessian-vector products.

    The start vector is standard normal from ``seed``; iteration stops when the Rayleigh
    quotient moves by at most ``tolerance`` relative to its size, or after ``max_iterations``.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    vector = [
        torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.device, p.dtype)
        for p in loss.params
    ]
    scale = _norm(vector)
    vector = [v / scale for v in vector]
    value = math.nan
    for iteration in range(1, max_iterations + 1):
        product = loss.hvp(vector)
        estimate = _dot(vector, product)
        size = _norm(product)
        if size == 0:
            return HessianEstimate(0.0, iteration, True)
        vector = [h / size for h in product]
        if not math.isnan(value) and abs(estimate - value) <= tolerance * max(abs(estimate), 1e-12):
            return HessianEstimate(estimate, iteration, True)
        value = estimate
    return HessianEstimate(value, max_iterations, False)


# ----------------------------------------------------------------------------- dequantizing


def _dequantized_weight(module: Any, attr: str) -> torch.Tensor | None:
    """The float value of ``module.<attr>`` whatever the backend stores (None when absent)."""
    import torch

    value = getattr(module, attr, None)
    if callable(value) and not isinstance(value, torch.Tensor):  # torch.ao: weight() / bias()
        value = value()
    if value is None or not isinstance(value, torch.Tensor):
        return None
    kind = type(value).__name__
    if kind == "Params4bit":
        import bitsandbytes.functional as bnbf

        deq: torch.Tensor = bnbf.dequantize_4bit(value.data, value.quant_state)  # type: ignore[attr-defined]
        return deq.float()
    if kind == "Int8Params":
        scb = getattr(value, "SCB", None)
        if scb is None:
            scb = getattr(getattr(module, "state", None), "SCB", None)
        if scb is None:
            return None
        scale: torch.Tensor = scb.float().reshape(-1, 1) / 127.0
        return value.data.float() * scale
    if value.is_quantized:
        return value.dequantize()
    dequantize = getattr(value, "dequantize", None)
    if type(value) not in (torch.Tensor, torch.nn.Parameter) and callable(dequantize):
        return dequantize()  # type: ignore[no-any-return]
    return value.detach().float() if value.is_floating_point() else None


def float_equivalent(dense: nn.Module, compressed: nn.Module) -> nn.Module:
    """A copy of ``dense`` holding ``compressed``'s weights, dequantized to float.

    Modules are matched by name (a half-precision wrapper's ``module.`` prefix is looked
    through); every weight and bias the variant holds replaces the copy's, so layers the variant
    left in float keep the variant's values as well.
    """
    import torch

    inner = getattr(compressed, "module", None)
    source = (
        inner
        if isinstance(inner, torch.nn.Module) and hasattr(compressed, "cast_dtype")
        else compressed
    )
    variant_modules = dict(source.named_modules())
    copy_model = copy.deepcopy(dense)
    with torch.no_grad():
        for name, module in copy_model.named_modules():
            counterpart = variant_modules.get(name)
            if counterpart is None:
                continue
            for attr in ("weight", "bias"):
                target = module._parameters.get(attr)
                if target is None:
                    continue
                value = _dequantized_weight(counterpart, attr)
                if value is not None and value.shape == target.shape:
                    target.copy_(value.to(target.device, target.dtype))
    return copy_model


# ----------------------------------------------------------------------------- the call


def _check_positive(name: str, value: Any, kind: type) -> None:
    allowed: tuple[type, ...] = (int, float) if kind is float else (kind,)
    number: Any = value
    if isinstance(number, bool) or not isinstance(number, allowed) or cast(float, number) <= 0:
        raise InputError(MSG_SETTINGS.format(name=name, kind=kind.__name__, value=value))


@dataclass
class _GradientResult:
    grad_norm: dict[str, float]
    hessian: dict[str, HessianEstimate]


def _not_differentiable(detail: str) -> Undefined:
    return Undefined("not_differentiable", detail)


def _gradients(
    model: nn.Module,
    split: DemographicSplit,
    codes: NDArray[np.int64],
    names: tuple[str, ...],
    task: Task,
    *,
    hessian: bool,
    hessian_samples: int,
    max_iterations: int,
    tolerance: float,
    seed: int,
    batch_size: int,
    device: Any,
) -> _GradientResult:
    """Gradient norm and λmax per group; raises whatever the model's autograd raises."""
    import torch

    from .evaluate import _evaluation_state, placed

    result = _GradientResult({}, {})
    params = _parameters(model)
    flags = [p.requires_grad for p in params]
    try:
        with placed(model, device) as where, _evaluation_state(model, seed), torch.enable_grad():
            for p in params:
                p.requires_grad_(True)
            for code, group in enumerate(names):
                rows = np.flatnonzero(codes == code)
                loss = _GroupLoss(model, split, rows, task, batch_size, where)
                result.grad_norm[group] = group_gradient_norm(loss)
                if hessian:
                    rng = np.random.default_rng(seed + code)
                    kept = (
                        rows
                        if len(rows) <= hessian_samples
                        else np.sort(rng.choice(rows, hessian_samples, replace=False))
                    )
                    part = _GroupLoss(model, split, kept, task, batch_size, where)
                    result.hessian[group] = hessian_lambda_max(
                        part, max_iterations=max_iterations, tolerance=tolerance, seed=seed
                    )
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
    return result


def _group_values(
    labels: NDArray[np.int64],
    dense: Predictions,
    compressed: Predictions,
    which: Predictions,
    codes: NDArray[np.int64],
    names: tuple[str, ...],
    kind: str,
) -> dict[str, dict[str, Any]]:
    """Everything but the gradients, per group, for one model (``which``)."""
    import torch

    from .metrics import (
        group_metrics,
        logit_variance,
        logits_cosine_distance,
        threshold_calibration_bias,
    )

    assert which.probs is not None and which.pred is not None
    assert dense.pred is not None and compressed.pred is not None
    features = np.asarray(names, dtype=object)[codes]
    losses = (
        per_sample_loss(torch.tensor(which.scores, dtype=torch.float64), torch.tensor(labels), kind)
        .numpy()
        .astype(np.float64)
    )
    true_prob = _true_class_prob(which.probs, labels, kind)
    variance = logit_variance(which.scores, sensitive_features=features).by_group["logit_variance"]
    if which is dense:
        distance = {g: 0.0 for g in names}
    else:
        distance = logits_cosine_distance(
            dense.scores, compressed.scores, sensitive_features=features
        ).by_group["logit_cosine_distance"]
    prob_input = which.probs[:, 1] if kind == "binary" else which.probs
    report = group_metrics(
        labels,
        which.pred,
        sensitive_features=features,
        metrics=("ece", "uncertainty"),
        y_prob=prob_input,
        n_classes=2 if kind == "binary" else None,
    )
    right_dense = _correct(dense.pred, labels)
    right_comp = _correct(compressed.pred, labels)
    out: dict[str, dict[str, Any]] = {}
    for code, group in enumerate(names):
        mask = codes == code
        tcb: float = Undefined("not_applicable", NOTE_TCB.format(kind=kind))
        if kind == "binary":
            found = threshold_calibration_bias(labels[mask], which.pred[mask])
            tcb = found if isinstance(found, Undefined) else float(found)  # type: ignore[arg-type]
        out[group] = {
            "n": int(mask.sum()),
            "loss": float(losses[mask].mean()),
            "true_class_prob": float(np.mean(true_prob[mask])),
            "logit_variance": variance[group],
            "logit_cosine_distance": distance[group],
            "tcb": tcb,
            "ece": _mean_label(report, "ece", group),
            "uncertainty": _mean_label(report, "uncertainty", group),
            "flips": {
                "dense_right_compressed_wrong": int((right_dense & ~right_comp & mask).sum()),
                "dense_wrong_compressed_right": int((~right_dense & right_comp & mask).sum()),
                "both_right": int((right_dense & right_comp & mask).sum()),
                "both_wrong": int((~right_dense & ~right_comp & mask).sum()),
            },
        }
    return out


def _correct(pred: NDArray[np.int64], labels: NDArray[np.int64]) -> NDArray[np.bool_]:
    same = pred == labels
    return np.asarray(same.all(axis=1) if same.ndim == 2 else same)


def _mean_label(report: Any, metric: str, group: str) -> float:
    """A single-label report's value, or the mean over labels of a multi-label one."""
    if metric in report.by_group:
        value = report.by_group[metric][group]
        return value if isinstance(value, Undefined) else float(value)
    values = [per[group] for key, per in report.by_group.items() if key.startswith(f"{metric}[")]
    return float(np.mean(values)) if values else math.nan


def _pinned_backend(model: Any) -> str | None:
    from .evaluate import _pinning_backend

    backend = _pinning_backend(model)
    return None if backend == "Hugging Face device_map" else backend


def diagnose(
    dense: nn.Module,
    compressed: nn.Module,
    split: DemographicSplit,
    *,
    attribute: str | None = None,
    task: Any = None,
    hessian: bool = True,
    max_samples: int = 512,
    hessian_samples: int = 64,
    max_iterations: int = 20,
    tolerance: float = 1e-3,
    seed: int = 0,
    device: Any = "auto",
    batch_size: int = 64,
    dense_predictions: Predictions | None = None,
) -> Diagnosis:
    """Per-group diagnostics of ``dense`` and ``compressed`` on ``split`` (see the module doc).

    ``attribute`` defaults to the split's first attribute (an intersection such as
    ``"gender×race"`` works). At most ``max_samples`` samples are used (a stratified, seeded
    subsample; the note says so); λmax uses at most ``hessian_samples`` of each group's, at most
    ``max_iterations`` power iterations and stops at relative change ``tolerance``.
    ``hessian=False`` skips λmax (NaN with reason). ``dense_predictions`` reuses the dense
    model's cached predictions when they were made on this same (sub)split.
    """
    from .evaluate import _resolve_task, predict

    for setting, value, expected in (
        ("max_samples", max_samples, int),
        ("hessian_samples", hessian_samples, int),
        ("max_iterations", max_iterations, int),
        ("batch_size", batch_size, int),
        ("tolerance", tolerance, float),
    ):
        _check_positive(setting, value, expected)
    chosen = _resolve_task(task, split)
    if chosen.kind not in ("binary", "multiclass", "multilabel"):
        raise InputError(MSG_KIND.format(kind=chosen.kind))
    attribute = attribute or split.attribute_names[0]
    notes: list[str] = []
    total = len(split)
    part = split
    if total > max_samples:
        part = split.subsample(max_samples, stratify=attribute, seed=seed)
        notes.append(NOTE_SUBSAMPLE.format(n=len(part), total=total, max=max_samples))
    groups = part.groups(attribute)
    codes, names = groups.codes, tuple(str(n) for n in groups.names)
    options: dict[str, Any] = {
        "task": chosen,
        "device": device,
        "batch_size": batch_size,
        "noise_check": 0,
        "progress": False,
        "seed": seed,
    }
    dense_pred = (
        dense_predictions
        if dense_predictions is not None and dense_predictions.split_fingerprint == part.fingerprint
        else predict(dense, part, method="dense", **options)
    )
    comp_pred = predict(compressed, part, **options)
    method = comp_pred.method
    labels = np.asarray(part.labels)
    kind = chosen.kind
    values = {
        "dense": _group_values(labels, dense_pred, comp_pred, dense_pred, codes, names, kind),
        "compressed": _group_values(labels, dense_pred, comp_pred, comp_pred, codes, names, kind),
    }
    if kind != "binary":
        notes.append(NOTE_TCB.format(kind=kind))

    settings = {
        "max_samples": max_samples,
        "hessian_samples": hessian_samples,
        "max_iterations": max_iterations,
        "tolerance": tolerance,
        "seed": seed,
        "hessian": hessian,
        "batch_size": batch_size,
    }

    def run(model: nn.Module) -> _GradientResult:
        return _gradients(
            model,
            part,
            codes,
            names,
            chosen,
            hessian=hessian,
            hessian_samples=hessian_samples,
            max_iterations=max_iterations,
            tolerance=tolerance,
            seed=seed,
            batch_size=batch_size,
            device=device,
        )

    gradients: dict[str, _GradientResult | str] = {}
    try:
        gradients["dense"] = run(dense)
    except Exception as err:  # a user's model: report, never crash the diagnosis
        gradients["dense"] = f"{type(err).__name__}: {err}"
        notes.append(NOTE_NO_GRADIENT.format(model="dense", error=gradients["dense"]))
    dequantized = False
    backend = _pinned_backend(compressed)
    attempts: list[tuple[Callable[[], nn.Module], str | None]] = []
    if backend is None:
        attempts.append((lambda: compressed, None))
    attempts.append(
        (lambda: float_equivalent(dense, compressed), NOTE_DEQUANTIZED.format(backend=backend))
    )
    failure = ""
    for build, note in attempts:
        try:
            gradients["compressed"] = run(build())
        except Exception as err:
            failure = f"{type(err).__name__}: {err}"
            continue
        if note is not None:
            dequantized = True
            notes.append(note if backend is not None else NOTE_FALLBACK.format(error=failure))
        break
    else:
        gradients["compressed"] = failure
        notes.append(NOTE_NO_GRADIENT.format(model="compressed", error=failure))

    tables: dict[str, dict[str, GroupDiagnosis]] = {}
    iterations: dict[str, dict[str, int]] = {}
    for model_name in ("dense", "compressed"):
        found = gradients[model_name]
        tables[model_name], iterations[model_name] = {}, {}
        for group in names:
            entry = dict(values[model_name][group])
            if isinstance(found, str):
                entry["grad_norm"] = _not_differentiable(found)
                estimate = None
            else:
                entry["grad_norm"] = found.grad_norm[group]
                estimate = found.hessian.get(group)
            if estimate is None:
                entry["hessian_lambda_max"] = (
                    Undefined("not_applicable", "hessian=False")
                    if not hessian or not isinstance(found, str)
                    else _not_differentiable(str(found))
                )
                entry["hessian_iterations"], entry["hessian_converged"] = 0, False
            else:
                entry["hessian_lambda_max"] = estimate.value
                entry["hessian_iterations"] = estimate.iterations
                entry["hessian_converged"] = estimate.converged
            iterations[model_name][group] = entry["hessian_iterations"]
            tables[model_name][group] = GroupDiagnosis(**entry)

    interrelation = None
    if kind == "multilabel":
        from .metrics import label_interrelation

        interrelation = {
            "dense": label_interrelation(dense_pred.probs),
            "compressed": label_interrelation(comp_pred.probs),
        }
    return Diagnosis(
        attribute=groups.attribute,
        task=kind,
        method=method,
        n=len(part),
        groups=names,
        by_group=tables["compressed"],
        dense_by_group=tables["dense"],
        iterations=iterations,
        dequantized=dequantized,
        notes=tuple(notes),
        settings=settings,
        label_interrelation=interrelation,
    )
