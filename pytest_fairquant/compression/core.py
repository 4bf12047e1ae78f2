"""``compress``: a deep copy of the user's model, compressed, carrying its ``CompressionInfo``.

What a variant records is measured on the variant itself, not taken from the method's request:
parameter bytes as actually stored (int8 = 1 byte, packed 4-bit = ½ byte plus absmax/scales),
sparsity as the share of exact zeros, and which Linear/Conv/attention weights changed (a
weight counts as converted when its module or tensor type, dtype or values changed; the Linear
layers that stayed as they were are listed as skipped with the method's reason).

``compressed_share`` is the share of the dense model's parameter values that the variant
stores compressed (the converted weights' elements over all parameter elements): a Linear-only
backend on a ResNet converts the classifier alone, and a variant under
:data:`LOW_SHARE` says so: ``info.share_warning`` and a warning on the
``pytest_fairquant.compression`` logger.

Methods that calibrate activations (``static-int8``, ``onnx-int8-static``) take
``compress(model, method_id, calibration=...)`` (see :mod:`.calibration`).

A variant that cannot differ from its model is refused rather than gated: a ``skip=`` name that
matches no layer the method compresses is an :class:`~pytest_fairquant.errors.InputError`, and a
variant whose parameters, buffers, hooks and module types all equal the dense model's raises
:class:`~pytest_fairquant.errors.UnchangedVariant` (bitsandbytes #629 was such a variant).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ..errors import CompressionError, InputError, MethodUnavailable, UnchangedVariant
from .registry import CompressionMethod, build_method

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .finetune import FineTune

MSG_NO_TARGETS = (
    "{cls} has no layers that {method_id!r} can compress: it needs {needs}. Pass a model "
    "containing them, or pick a method for this architecture."
)
MSG_NOT_A_MODULE = "compress() needs a torch.nn.Module, got {type}"
MSG_NO_INFO = "{type} is not a variant made by pytest_fairquant.compression (no fairquant_info)"
MSG_UNKNOWN_SKIP = (
    "{method_id!r}: skip= names {unknown} but {cls} has no such layer among the {count} layers "
    "it compresses, e.g. {examples}; a skip name is a module name as in model.named_modules() "
    "('head' also skips 'head.fc')"
)
MSG_UNCHANGED = (
    "{method_id!r}: compression changed nothing: the variant's parameters, buffers and module "
    "types all equal the dense {cls}'s{why}, so its gates would compare the model with itself; "
    "check the method's parameters or pick a method that applies to this model"
)
MSG_LOW_SHARE = "{method_id}: {share:.1%} of weights quantized ({which}): {untouched} untouched"
MSG_LOW_SHARE_PRUNED = (
    "{method_id}: {share:.1%} of weights compressed ({which}): {untouched} untouched"
)
MSG_CALIBRATION_UNUSED = (
    "{method_id!r} does not calibrate activations, so calibration= has no effect; drop it, or "
    "pick a method that calibrates ({calibrating})"
)
#: Below this compressed share a variant warns (info.share_warning, logged).
LOW_SHARE = 0.5
MSG_SKIP_COVERS_ALL = " (skip={skip!r} covers every layer it compresses ({count}))"
#: How many valid skip names an error lists.
_SHOWN_NAMES = 6

_KIND_NAMES = {
    "Linear": "nn.Linear",
    "Conv": "nn.Conv1d/2d/3d",
    "MultiheadAttention": "nn.MultiheadAttention",
}
_ALL_KINDS = ("Linear", "Conv", "MultiheadAttention")


#: Where a variant under LOW_SHARE says so (a log record, not a Python warning: suites run
#: with ``filterwarnings = error`` compress partial variants on purpose, e.g. with ``skip=``).
LOG = logging.getLogger("pytest_fairquant.compression")


@dataclass(frozen=True)
class SkippedLayer:
    """A Linear (or attention projection) weight the method left in float, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class VariantPlan:
    """Every input a :func:`compress` result depends on, known before compressing
    (:func:`plan_variant`): its :attr:`fingerprint` is the variant's identity in the prediction
    cache, so a variant whose predictions are cached is never built (issue 14).

    ``params`` are the parsed parameters (the id's and the keyword overrides), ``versions`` the
    backend versions the method reports, ``method_code`` the method object's code and state;
    ``calibration`` identifies the calibration data (a split by its fingerprint, a tensor by its
    bytes; None when the method does not calibrate), ``finetune`` the recovery training (the
    function's code and closure, the data it trains on, the steps); ``device`` is where the dense
    model lives (a copy is compressed there) and ``environment`` this package's version and
    torch's quantized engine (fbgemm/x86 or qnnpack kernels quantize differently).
    """

    base_fingerprint: str
    method_id: str
    params: tuple[tuple[str, str], ...]
    versions: tuple[tuple[str, str], ...]
    method_code: str
    calibration: str | None
    finetune: tuple[str, str, int] | None
    device: str
    environment: tuple[tuple[str, str], ...]

    def parts(self) -> tuple[Any, ...]:
        """What :attr:`fingerprint` hashes, in field order (the dense model's first)."""
        return tuple(getattr(self, f.name) for f in fields(self))

    @property
    def fingerprint(self) -> str:
        from ..fingerprint import variant_fingerprint

        return variant_fingerprint(self.parts())


@dataclass(frozen=True)
class CompressionInfo:
    """What a compressed variant is and what compressing it did (``variant.fairquant_info``)."""

    method_id: str
    family: str
    params: Mapping[str, Any]
    bytes_before: int
    bytes_after: int
    weight_bits: float | None
    sparsity: float
    sparsity_by_module: Mapping[str, float]
    converted: tuple[str, ...]
    skipped: tuple[SkippedLayer, ...]
    versions: Mapping[str, str]
    device: str
    wall_time_s: float
    base_fingerprint: str
    #: The method object's code and state (``value_identity``): an edited third-party
    #: ``apply`` is another variant. Part of the cache key, not of the report.
    method_code: str = field(default="", repr=False)
    #: Share of the dense model's parameter elements the variant stores compressed, in [0, 1].
    compressed_share: float = 0.0
    #: The warning a share under LOW_SHARE gave (None when the share is at least that).
    share_warning: str | None = None
    #: What the method measured or chose on this model: observers, calibration size and
    #: fingerprint, ONNX opset, runtime version, execution provider... (part of the cache key
    #: only for a variant without a ``plan``).
    details: Mapping[str, Any] = field(default_factory=dict)
    #: The inputs :func:`compress` made the variant from; its fingerprint is the variant's
    #: identity (None for a variant made otherwise, e.g. quantized while loading).
    plan: VariantPlan | None = field(default=None, repr=False)

    @property
    def size_ratio(self) -> float:
        """bytes_before / bytes_after (> 1 means smaller)."""
        return self.bytes_before / self.bytes_after if self.bytes_after else float("inf")

    def fingerprint_parts(self) -> tuple[Any, ...]:
        """What identifies the variant for the prediction cache (see ``fingerprint.py``): its
        plan's parts, so the variant has the fingerprint it was planned under, else what it
        recorded."""
        if self.plan is not None:
            return self.plan.parts()
        parts: tuple[Any, ...] = (
            self.base_fingerprint,
            self.method_id,
            tuple(sorted((k, repr(v)) for k, v in self.params.items())),
            tuple(sorted(self.versions.items())),
            self.method_code,
        )
        # Only when present, so the keys of variants without details stay what they were.
        return (*parts, repr(_plain(self.details))) if self.details else parts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = {k: _plain(v) for k, v in self.params.items()}
        data["sparsity_by_module"] = dict(self.sparsity_by_module)
        data["versions"] = dict(self.versions)
        data["converted"] = list(self.converted)
        data["skipped"] = [asdict(s) for s in self.skipped]
        data["details"] = _plain(self.details)
        data["size_ratio"] = self.size_ratio
        del data["method_code"], data["plan"]
        return data


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


# --------------------------------------------------------------------------- measurements


def _quant_state_bytes(state: Any) -> int:
    total = 0
    for attr in ("absmax", "code", "offset"):
        t = getattr(state, attr, None)
        if t is not None and hasattr(t, "element_size"):
            total += t.numel() * t.element_size()
    nested = getattr(state, "state2", None)
    return total + (_quant_state_bytes(nested) if nested is not None else 0)


def tensor_storage_bytes(t: torch.Tensor, owner: Any = None) -> int:
    """Bytes ``t`` occupies as stored, including a quantized format's scales."""
    kind = type(t).__name__
    if kind == "Params4bit":
        return t.numel() * t.element_size() + _quant_state_bytes(t.quant_state)  # type: ignore[attr-defined]
    if kind == "Int8Params":
        scb = getattr(t, "SCB", None)
        if scb is None and owner is not None:
            scb = getattr(getattr(owner, "state", None), "SCB", None)
        return t.numel() * t.element_size() + (
            scb.numel() * scb.element_size() if scb is not None else 0
        )
    if t.is_quantized:
        scales = (
            16 if t.qscheme() in (_per_tensor_schemes()) else 16 * t.q_per_channel_scales().numel()
        )
        return t.numel() * t.element_size() + scales
    flatten = getattr(t, "__tensor_flatten__", None)
    if flatten is not None:  # torchao's tensor subclasses: count their inner tensors
        names, _ = flatten()
        return sum(tensor_storage_bytes(getattr(t, n)) for n in names if getattr(t, n) is not None)
    return t.numel() * t.element_size()


def _per_tensor_schemes() -> tuple[Any, ...]:
    import torch

    return (torch.per_tensor_affine, torch.per_tensor_symmetric)


def storage_bytes(model: nn.Module) -> int:
    """Parameter and buffer bytes of ``model`` as stored (shared tensors once)."""
    # Keyed by id, holding each tensor: torch.ao's _weight_bias() returns fresh tensors, and
    # a freed one's id could be reused by the next and wrongly count as already seen.
    seen: dict[int, Any] = {}
    total = 0
    for module in model.modules():
        tensors = [*module._parameters.values(), *module._buffers.values()]
        packed = getattr(module, "_packed_params", None)
        if packed is not None and hasattr(packed, "_weight_bias"):  # torch.ao dynamic Linear
            tensors += list(packed._weight_bias())
        for t in tensors:
            if t is None or id(t) in seen:
                continue
            seen[id(t)] = t
            total += tensor_storage_bytes(t, module)
    return total


def _sparsity(model: nn.Module) -> tuple[float, dict[str, float]]:
    from ._ops import float_weights

    zeros = total = 0
    by_module: dict[str, float] = {}
    for name, _, _, w in float_weights(model, _ALL_KINDS):
        nz = int((w == 0).sum())
        zeros, total = zeros + nz, total + w.numel()
        by_module[name] = nz / w.numel() if w.numel() else 0.0
    return (zeros / total if total else 0.0), by_module


def _unwrap(model: nn.Module) -> nn.Module:
    from ._cast import HalfPrecisionModel

    return model.module if isinstance(model, HalfPrecisionModel) else model


def _weight_changed(before: torch.Tensor, after: Any) -> bool:
    import torch

    if type(after) is not type(before) or not isinstance(after, torch.Tensor):
        return True
    if after.dtype != before.dtype or after.shape != before.shape:
        return True
    return not torch.equal(before.detach().cpu(), after.detach().cpu())


def _diff(
    original: nn.Module, variant: nn.Module, method: CompressionMethod
) -> tuple[tuple[str, ...], tuple[SkippedLayer, ...]]:
    from torch import nn

    from ._ops import weight_targets

    inner = _unwrap(variant)
    variant_modules = dict(inner.named_modules())
    reports_skips = "Linear" in (getattr(method, "targets", None) or ())
    skip_reason = getattr(method, "skip_reason", None)
    converted: list[str] = []
    skipped: list[SkippedLayer] = []
    for name, module, attr in weight_targets(original, _ALL_KINDS):
        module_name = name if attr == "weight" else name.rsplit(".", 1)[0] if "." in name else ""
        counterpart = variant_modules.get(module_name)
        changed = (
            counterpart is None
            or type(counterpart) is not type(module)
            or _weight_changed(getattr(module, attr), getattr(counterpart, attr, None))
        )
        if changed:
            converted.append(name)
        elif reports_skips and (isinstance(module, nn.Linear) or attr != "weight"):
            reason = skip_reason(name, module) if callable(skip_reason) else "left unchanged"
            skipped.append(SkippedLayer(name, reason))
    return tuple(converted), tuple(skipped)


def _mark_original_dtype(original: nn.Module, variant: nn.Module) -> None:
    """Tell the model which float dtype a swapped-in quantized Linear stands for.

    open_clip derives the text tower's activation dtype from ``mlp.c_fc.weight.dtype`` unless
    the layer has ``int8_original_dtype`` (its own bitsandbytes convention); without it, tokens
    would be cast to int8/uint8 (bnb) or fail (torch.ao's ``weight`` is a method).
    """
    from torch import nn

    swapped = dict(_unwrap(variant).named_modules())
    for name, module in original.named_modules():
        counterpart = swapped.get(name)
        swapped_in = counterpart is not None and type(counterpart) is not type(module)
        if isinstance(module, nn.Linear) and swapped_in and counterpart is not None:
            counterpart.int8_original_dtype = module.weight.dtype


def _device(model: nn.Module) -> str:
    for t in (*model.parameters(), *model.buffers()):
        return str(t.device)
    return "cpu"


def _check_targets(model: nn.Module, method_id: str, method: CompressionMethod) -> None:
    from ._ops import weight_targets

    kinds = getattr(method, "targets", None)
    if not kinds:
        return
    if next(iter(weight_targets(model, kinds)), None) is None:
        needs = " or ".join(_KIND_NAMES.get(k, k) for k in kinds) + " layers"
        raise CompressionError(
            MSG_NO_TARGETS.format(cls=type(model).__name__, method_id=method_id, needs=needs)
        )


def _skip_list(method: CompressionMethod) -> tuple[str, ...]:
    skip = dict(method.params).get("skip") or ()
    return (skip,) if isinstance(skip, str) else tuple(skip)


def _target_names(model: nn.Module, method: CompressionMethod) -> list[str]:
    from ._ops import weight_targets

    kinds = getattr(method, "targets", None) or _ALL_KINDS
    return [name for name, _, _ in weight_targets(model, kinds)]


def _hook_count(module: nn.Module) -> int:
    return sum(len(getattr(module, attr, {})) for attr in ("_forward_hooks", "_forward_pre_hooks"))


def _unchanged(original: nn.Module, variant: nn.Module) -> bool:
    """The variant is the dense model again: same module tree and types, hooks and tensors."""
    if type(variant) is not type(original):
        return False
    before, after = dict(original.named_modules()), dict(variant.named_modules())
    if before.keys() != after.keys():
        return False
    for name, module in before.items():
        counterpart = after[name]
        if type(counterpart) is not type(module) or _hook_count(counterpart) != _hook_count(module):
            return False
    for tensors in ("named_parameters", "named_buffers"):
        old = dict(getattr(original, tensors)(remove_duplicate=False))
        new = dict(getattr(variant, tensors)(remove_duplicate=False))
        if old.keys() != new.keys() or any(_weight_changed(t, new[k]) for k, t in old.items()):
            return False
    return True


def unchanged_error(model: nn.Module, method_id: str, why: str = "") -> UnchangedVariant:
    return UnchangedVariant(
        MSG_UNCHANGED.format(method_id=method_id, cls=type(model).__name__, why=why)
    )


def check_skip(
    model: nn.Module,
    method_id: str,
    skip: tuple[str, ...],
    names: list[str],
    matches: Callable[[str, str], bool],
) -> None:
    """Every ``skip`` name must match one of ``names`` (the layers the method compresses), and
    at least one of ``names`` must be left to compress."""
    unknown = [s for s in skip if not any(matches(name, s) for name in names)]
    if unknown:
        shown = ", ".join(repr(n) for n in names[:_SHOWN_NAMES])
        more = len(names) - _SHOWN_NAMES
        raise InputError(
            MSG_UNKNOWN_SKIP.format(
                method_id=method_id,
                unknown=", ".join(repr(s) for s in unknown),
                cls=type(model).__name__,
                count=len(names),
                examples=shown + (f", and {more} more" if more > 0 else ""),
            )
        )
    if skip and names and all(any(matches(name, s) for s in skip) for name in names):
        why = MSG_SKIP_COVERS_ALL.format(skip=list(skip), count=len(names))
        raise unchanged_error(model, method_id, why)


def plan_variant(
    model: nn.Module,
    method_id: str,
    *,
    calibration: Any = None,
    finetune: FineTune | None = None,
    base_fingerprint: str | None = None,
    **params: Any,
) -> VariantPlan:
    """The :class:`VariantPlan` of ``compress(model, method_id, calibration=..., finetune=...,
    **params)``, without compressing: its ``fingerprint`` is the one that variant will have.

    It makes the checks :func:`compress` makes before it copies the model (an unknown id or bad
    parameters, calibration data for a method that does not calibrate, a method that cannot run
    here, a model with nothing to compress, a ``skip`` name that matches no layer, ``gmp-S``
    without fine-tuning) and raises the same errors. ``base_fingerprint`` is ``model``'s
    fingerprint where the caller already has it.
    """
    return _plan(model, method_id, calibration, finetune, params, base_fingerprint)[0]


def _plan(
    model: nn.Module,
    method_id: str,
    calibration: Any,
    finetune: FineTune | None,
    params: Mapping[str, Any],
    base_fingerprint: str | None = None,
) -> tuple[VariantPlan, CompressionMethod]:
    import torch
    from torch import nn

    from .. import __version__
    from ..fingerprint import model_fingerprint, value_identity
    from ._ops import skipped_by_name

    if not isinstance(model, nn.Module):
        raise InputError(MSG_NOT_A_MODULE.format(type=type(model).__name__))
    method = build_method(method_id, params)
    calibrates = bool(getattr(method, "calibrates", False))
    if calibration is not None and not calibrates:
        from .calibration import calibrating_methods

        raise InputError(
            MSG_CALIBRATION_UNUSED.format(
                method_id=method_id, calibrating=", ".join(calibrating_methods())
            )
        )
    ok, reason = method.available()
    if not ok:
        raise MethodUnavailable(method_id, reason or "unavailable")
    _check_targets(model, method_id, method)
    skip, names = _skip_list(method), _target_names(model, method)
    check_skip(model, method_id, skip, names, lambda name, s: skipped_by_name(name, (s,)))
    if getattr(method, "gradual", False) and finetune is None:
        from .methods import MSG_NEEDS_FINETUNE

        raise CompressionError(MSG_NEEDS_FINETUNE.format(method_id=method_id))
    versions = getattr(method, "versions", None)
    reported = versions() if callable(versions) else _default_versions()
    plan = VariantPlan(
        base_fingerprint=base_fingerprint or model_fingerprint(model),
        method_id=method_id,
        params=tuple(sorted((k, repr(v)) for k, v in method.params.items())),
        versions=tuple(sorted((str(k), str(v)) for k, v in reported.items())),
        method_code=_method_code(method),
        calibration=value_identity(calibration) if calibrates and calibration is not None else None,
        finetune=None
        if finetune is None
        else (value_identity(finetune.fn), value_identity(finetune.data), finetune.steps),
        device=_device(model),
        environment=(
            ("pytest-fairquant", __version__),
            ("quantized_engine", str(torch.backends.quantized.engine)),
        ),
    )
    return plan, method


def compress(
    model: nn.Module,
    method_id: str,
    *,
    calibration: Any = None,
    finetune: FineTune | None = None,
    **params: Any,
) -> nn.Module:
    """A compressed copy of ``model`` made by ``method_id`` (the user's model is untouched).

    ``params`` add to or override what the id encodes (``compress(m, "uniform-int4",
    per_channel=True)``, ``compress(m, "bnb-nf4", skip=["head"])``). ``calibration`` is the
    data a calibrating method (``static-int8``, ``onnx-int8-static``) observes activations on:
    a tensor batch, a DataLoader or a DemographicSplit (see :mod:`.calibration`; give the
    calibration part of :func:`~.calibration.calibration_split`, never the evaluated samples).
    ``finetune`` runs the user's recovery training loop on the variant, pruning masks kept
    (and ``gmp-S`` pruned on its schedule, which needs it; see :mod:`.finetune`).
    Raises :class:`~pytest_fairquant.errors.InputError` for an unknown id or bad parameters
    (or calibration data given to a method that does not calibrate),
    :class:`~pytest_fairquant.errors.MethodUnavailable` when the method cannot run here, and
    :class:`~pytest_fairquant.errors.CompressionError` when the model has nothing to compress
    or a calibrating method gets no calibration data; a ``skip`` name that matches no layer it
    compresses is an ``InputError``, and a variant equal to ``model`` raises
    :class:`~pytest_fairquant.errors.UnchangedVariant`. A variant whose
    ``compressed_share`` is under :data:`LOW_SHARE` logs ``info.share_warning`` as a warning.
    The variant's ``fairquant_info.plan`` is :func:`plan_variant`'s, so its fingerprint (its
    prediction-cache identity) is known before compressing.
    """
    plan, method = _plan(model, method_id, calibration, finetune, params)
    data = None
    if getattr(method, "calibrates", False):
        from .calibration import calibration_data

        size = dict(method.params).get("calibration_size")
        data = calibration_data(calibration, method_id, size=size)
    bytes_before = storage_bytes(model)
    work = copy.deepcopy(model)
    start = time.perf_counter()
    if getattr(method, "gradual", False):  # pruned while it trains, from dense
        variant = work
    elif data is None:
        variant = method.apply(work)
    else:
        variant = method.apply(work, data)  # type: ignore[call-arg]
    tuned = None if finetune is None else _finetune(variant, method, finetune)
    wall = time.perf_counter() - start
    if _unchanged(model, variant):
        raise unchanged_error(model, method_id)

    measure = getattr(method, "measure", None)
    measured: Mapping[str, Any] = measure(model, variant) if callable(measure) else {}
    if "converted" in measured:
        converted, skipped = tuple(measured["converted"]), tuple(measured.get("skipped", ()))
    else:
        converted, skipped = _diff(model, variant, method)
    _mark_original_dtype(model, variant)
    sparsity, by_module = _sparsity(_unwrap(variant))
    details = {
        **({"calibration": data.describe()} if data is not None else {}),
        **dict(getattr(variant, "fairquant_details", None) or {}),
        **dict(measured.get("details", {})),
        **({"finetune": tuned} if tuned is not None else {}),
    }
    share = float(measured.get("share", compressed_share(model, converted)))
    family = str(getattr(method, "family", "custom"))
    share_warning = low_share_message(
        model, method_id, family, converted, share, _skip_list(method)
    )
    info = CompressionInfo(
        method_id=method_id,
        family=family,
        params=dict(method.params),
        bytes_before=bytes_before,
        bytes_after=int(measured.get("bytes_after", storage_bytes(variant))),
        weight_bits=getattr(method, "weight_bits", None),
        sparsity=sparsity,
        sparsity_by_module=by_module,
        converted=converted,
        skipped=skipped,
        versions=dict(plan.versions),
        device=_device(variant),
        wall_time_s=wall,
        base_fingerprint=plan.base_fingerprint,
        method_code=plan.method_code,
        compressed_share=share,
        share_warning=share_warning,
        details=details,
        plan=plan,
    )
    variant.fairquant_info = info  # type: ignore[assignment]
    if share_warning is not None:
        LOG.warning(share_warning)
    return variant


def _finetune(variant: nn.Module, method: CompressionMethod, finetune: FineTune) -> dict[str, Any]:
    """Run ``finetune`` on ``variant`` with the masks its method calls for: the gradual
    schedule, a pruned variant's own zeros (fixed), or none (quantized weights)."""
    from ._ops import float_weights
    from .finetune import run_finetune

    schedule = getattr(method, "masks_at", None)
    pruned = callable(schedule) or getattr(method, "family", None) == "pruning"
    weights = (
        [w for *_, w in float_weights(_unwrap(variant), _ALL_KINDS, _skip_list(method))]
        if pruned
        else []
    )
    fixed = [w != 0 for w in weights]  # before training: the zeros the method left

    def masks_at(step: int) -> list[torch.Tensor]:
        return schedule(weights, step, finetune.steps) if callable(schedule) else fixed

    return run_finetune(variant, finetune, weights, masks_at)


# --------------------------------------------------------------------------- compressed share


def _weight_sizes(model: nn.Module) -> dict[str, int]:
    """Elements of every Linear/Conv/attention weight, by the display name ``_diff`` uses."""
    from ._ops import weight_targets

    return {
        name: getattr(module, attr).numel()
        for name, module, attr in weight_targets(model, _ALL_KINDS)
    }


def parameter_elements(model: nn.Module) -> int:
    """Elements of ``model``'s parameters, shared (tied) tensors once."""
    return sum(p.numel() for p in model.parameters())


def compressed_share(model: nn.Module, converted: tuple[str, ...]) -> float:
    """The share of ``model``'s parameter elements that are in the ``converted`` weights."""
    sizes = _weight_sizes(model)
    total = parameter_elements(model)
    done = sum(sizes.get(name, 0) for name in set(converted))
    return min(1.0, done / total) if total else 0.0


def _untouched(model: nn.Module, converted: tuple[str, ...], asked: tuple[str, ...] = ()) -> str:
    """What the variant left in float, by kind: "convolutions", "linear layers"..., apart from
    the layers (and everything inside them) that the ``asked`` skip list kept."""
    from torch import nn
    from torch.nn.modules.conv import _ConvNd

    from ._ops import weight_targets

    done = set(converted)
    kinds: dict[str, None] = {}
    for name, module, attr in weight_targets(model, _ALL_KINDS):
        if name in done or any(name == a or name.startswith(a + ".") for a in asked):
            continue
        if attr != "weight" or isinstance(module, nn.MultiheadAttention):
            kinds["attention projections"] = None
        elif isinstance(module, _ConvNd):
            kinds["convolutions"] = None
        else:
            kinds["linear layers"] = None
    covered = sum(_weight_sizes(model).values())
    if parameter_elements(model) - covered > covered:
        kinds["embeddings, norms and biases"] = None
    return " and ".join(kinds) or "the other parameters"


def low_share_message(
    model: nn.Module,
    method_id: str,
    family: str,
    converted: tuple[str, ...],
    share: float,
    asked: tuple[str, ...] = (),
) -> str | None:
    """The warning for a variant whose share is under LOW_SHARE (None otherwise); the layers
    the ``asked`` skip list kept in float are named as such, not as layers the method cannot
    take."""
    if share >= LOW_SHARE:
        return None
    shown = sorted(set(converted))
    which = (
        (", ".join(shown) + " only")
        if 0 < len(shown) <= 3
        else f"{len(shown)} of {len(_weight_sizes(model))} weight tensors"
    )
    if asked:
        kept = sorted(set(asked))
        which += "; skipped as asked: " + (
            ", ".join(kept) if len(kept) <= 3 else f"{len(kept)} layers"
        )
    template = MSG_LOW_SHARE if family == "quantization" else MSG_LOW_SHARE_PRUNED
    untouched = _untouched(model, converted, asked)
    return template.format(method_id=method_id, share=share, which=which, untouched=untouched)


def _method_code(method: CompressionMethod) -> str:
    import hashlib

    from ..fingerprint import value_identity

    return hashlib.sha256(value_identity(method).encode()).hexdigest()[:16]


def _default_versions() -> dict[str, str]:
    import torch

    return {"torch": torch.__version__}


def info_dict(variant: Any) -> dict[str, Any]:
    """The variant's metadata (``fairquant_info``) for a report, without its wall time (the
    same run must give a byte-identical report); empty when it has none."""
    info = getattr(variant, "fairquant_info", None)
    if info is None:
        return {}
    to_dict = getattr(info, "to_dict", None)
    data = dict(to_dict()) if callable(to_dict) else {"info": repr(info)}
    data.pop("wall_time_s", None)
    return data


def compression_info(variant: Any) -> CompressionInfo:
    """The :class:`CompressionInfo` of a variant made by :func:`compress`."""
    info = getattr(variant, "fairquant_info", None)
    if not isinstance(info, CompressionInfo):
        raise InputError(MSG_NO_INFO.format(type=type(variant).__name__))
    return info
