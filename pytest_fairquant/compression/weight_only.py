"""Weight-only quantization of the transformer era: optimum-quanto, HQQ, torchao int4, GPTQ.

- ``quanto-int8`` / ``quanto-int4``: optimum-quanto ``quantize(model, weights=qint8|qint4)``
  then ``freeze``: Linear and Conv2d weights stored int8 per output channel, or 4-bit packed in
  groups of 128 with scale and shift; activations float. CPU and CUDA.
- ``hqq-int4``: HQQ (half-quadratic quantization, calibration-free) of every nn.Linear through
  ``hqq.core.quantize.HQQLinear``, 4-bit in groups of 64, float32 compute. CPU and CUDA.
- ``torchao-int4-weight``: torchao ``Int4WeightOnlyConfig`` (group 128) on nn.Linear; its
  tinygemm kernel needs CUDA and bfloat16, so the variant runs in bfloat16 on CUDA behind the
  half-precision wrapper. Unavailable without CUDA.
- ``gptq-int4``: GPTQ through gptqmodel on a Hugging Face causal language model (GPTQ solves
  each layer's rounding against the calibration activations); CUDA only.

Each backend is an optional extra (``pip install 'pytest-fairquant[quanto]'``, ``[hqq]``,
``[torchao]``, ``[gptq]``); a missing one makes the method unavailable with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import CompressionError
from .calibration import DEFAULT_CALIBRATION_SIZE, CalibrationData, require_calibration
from .methods import (
    LINEAR_ONLY,
    MHA_REASON,
    _as_skip,
    _check,
    _importable,
    _is_int,
    _Method,
)

if TYPE_CHECKING:
    from torch import nn

MSG_CUDA_ONLY = "needs CUDA ({why}); torch.cuda.is_available() is False"
MSG_GPTQ_MODEL = (
    "'gptq-int4' quantizes Hugging Face causal language models through gptqmodel (it saves "
    "and reloads the checkpoint); {cls} is not a transformers PreTrainedModel"
)
_MHA_LINEAR = "NonDynamicallyQuantizableLinear"


def _cuda(why: str) -> tuple[bool, str | None]:
    import torch

    return (True, None) if torch.cuda.is_available() else (False, MSG_CUDA_ONLY.format(why=why))


@dataclass(frozen=True)
class _WeightOnly(_Method):
    skip: tuple[str, ...] = ()

    family: ClassVar[str] = "quantization"
    #: (import name, pip requirement) of the backend.
    backend: ClassVar[tuple[str, str]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "skip", _as_skip(self.skip))

    def available(self) -> tuple[bool, str | None]:
        return _importable(*self.backend)

    def skip_reason(self, name: str, module: nn.Module) -> str:
        if type(module).__name__ == _MHA_LINEAR or name.endswith("_proj_weight"):
            return MHA_REASON.format(backend=self.backend[0])
        return super().skip_reason(name, module)


@dataclass(frozen=True)
class _Quanto(_WeightOnly):
    targets: ClassVar[tuple[str, ...] | None] = ("Linear", "Conv")
    packages: ClassVar[tuple[str, ...]] = ("torch", "optimum-quanto")
    backend: ClassVar[tuple[str, str]] = ("optimum.quanto", "'pytest-fairquant[quanto]'")
    qtype: ClassVar[str]

    def apply(self, model: nn.Module) -> nn.Module:
        import optimum.quanto as quanto

        exclude = [pattern for s in self.skip for pattern in (s, f"{s}.*")] or None
        quanto.quantize(model, weights=getattr(quanto, self.qtype), exclude=exclude)
        quanto.freeze(model)
        return model


@dataclass(frozen=True)
class QuantoInt8(_Quanto):
    qtype: ClassVar[str] = "qint8"
    source: ClassVar[str] = "optimum-quanto"
    description: ClassVar[str] = (
        "optimum-quanto int8 weights (per output channel) on Linear and Conv2d, activations float"
    )

    @property
    def name(self) -> str:
        return "quanto-int8"

    @property
    def weight_bits(self) -> float:
        return 8.0


@dataclass(frozen=True)
class QuantoInt4(_Quanto):
    qtype: ClassVar[str] = "qint4"
    source: ClassVar[str] = "optimum-quanto"
    description: ClassVar[str] = (
        "optimum-quanto 4-bit weights (groups of 128, scale and shift) on Linear and Conv2d"
    )

    @property
    def name(self) -> str:
        return "quanto-int4"

    @property
    def weight_bits(self) -> float:
        return 4.0


def _replace_linears(model: nn.Module, skip: tuple[str, ...], convert: Any) -> nn.Module:
    """Swap every plain nn.Linear not in ``skip`` for ``convert(name, linear)`` (None: keep)."""
    from torch import nn

    from ._ops import skipped_by_name

    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            full = f"{parent_name}.{child_name}" if parent_name else child_name
            if (
                type(child) is nn.Linear
                and not skipped_by_name(full, skip)
                and (new := convert(full, child)) is not None
            ):
                setattr(parent, child_name, new)
    return model


@dataclass(frozen=True)
class HqqInt4(_WeightOnly):
    """HQQ 4-bit weights (hqq's HQQLinear) on every nn.Linear; calibration-free."""

    group_size: int = 64

    targets: ClassVar[tuple[str, ...] | None] = LINEAR_ONLY
    packages: ClassVar[tuple[str, ...]] = ("torch", "hqq")
    backend: ClassVar[tuple[str, str]] = ("hqq", "'pytest-fairquant[hqq]'")
    source: ClassVar[str] = "HQQ (Badri, Shaji)"
    description: ClassVar[str] = (
        "HQQ 4-bit weights (half-quadratic, groups of 64, calibration-free) on nn.Linear"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(
            "hqq-int4",
            "group_size",
            self.group_size,
            _is_int(self.group_size) and self.group_size >= 8,
            "an integer ≥ 8",
        )

    @property
    def name(self) -> str:
        return "hqq-int4"

    @property
    def weight_bits(self) -> float:
        return 4.0

    def skip_reason(self, name: str, module: nn.Module) -> str:
        weight = getattr(module, "weight", None)
        if weight is not None and weight.numel() % self.group_size:
            return f"{weight.numel()} weights are not a whole number of groups of {self.group_size}"
        return super().skip_reason(name, module)

    def apply(self, model: nn.Module) -> nn.Module:
        import torch
        from hqq.core.quantize import BaseQuantizeConfig, HQQLinear

        config = BaseQuantizeConfig(nbits=4, group_size=self.group_size)

        def convert(name: str, linear: nn.Linear) -> nn.Module | None:
            if linear.weight.numel() % self.group_size:
                return None
            device = str(linear.weight.device)
            layer: nn.Module = HQQLinear(
                linear, config, compute_dtype=torch.float32, device=device, del_orig=True
            )
            return layer

        return _replace_linears(model, self.skip, convert)

    def measure(self, original: nn.Module, variant: nn.Module) -> dict[str, Any]:
        """HQQ keeps each layer's scales, zeros and bias outside the module's registered state."""
        import torch

        from .core import storage_bytes

        extra = 0
        for module in variant.modules():
            if type(module).__name__ != "HQQLinear":
                continue
            held = [*(getattr(module, "meta", None) or {}).values(), getattr(module, "bias", None)]
            extra += sum(t.numel() * t.element_size() for t in held if isinstance(t, torch.Tensor))
        return {"bytes_after": storage_bytes(variant) + extra}


@dataclass(frozen=True)
class TorchaoInt4Weight(_WeightOnly):
    """torchao Int4WeightOnlyConfig on nn.Linear (tinygemm, CUDA, bfloat16)."""

    group_size: int = 128

    targets: ClassVar[tuple[str, ...] | None] = LINEAR_ONLY
    packages: ClassVar[tuple[str, ...]] = ("torch", "torchao")
    backend: ClassVar[tuple[str, str]] = ("torchao", "'pytest-fairquant[torchao]'")
    source: ClassVar[str] = "torchao"
    description: ClassVar[str] = (
        "torchao int4 weight-only (Int4WeightOnlyConfig, groups of 128) on nn.Linear; CUDA, "
        "bfloat16 compute"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(
            "torchao-int4-weight",
            "group_size",
            self.group_size,
            self.group_size in (32, 64, 128, 256),
            "one of 32, 64, 128, 256",
        )

    @property
    def name(self) -> str:
        return "torchao-int4-weight"

    @property
    def weight_bits(self) -> float:
        return 4.0

    @property
    def needs_cuda(self) -> bool:
        return True

    def available(self) -> tuple[bool, str | None]:
        ok, reason = super().available()
        return _cuda("torchao's int4 weight-only tinygemm kernel") if ok else (ok, reason)

    def apply(self, model: nn.Module) -> nn.Module:
        import torch
        import torchao.quantization as tq
        from torch import nn

        from ._cast import HalfPrecisionModel
        from ._ops import skipped_by_name

        def wanted(module: nn.Module, fqn: str) -> bool:
            return type(module) is nn.Linear and not skipped_by_name(fqn, self.skip)

        wrapped = HalfPrecisionModel(model.cuda(), torch.bfloat16)
        tq.quantize_(
            wrapped.module, tq.Int4WeightOnlyConfig(group_size=self.group_size), filter_fn=wanted
        )
        return wrapped


@dataclass(frozen=True)
class GptqInt4(_WeightOnly):
    """GPTQ 4-bit through gptqmodel, calibrated on the calibration part (CUDA)."""

    group_size: int = 128
    calibration_size: int = DEFAULT_CALIBRATION_SIZE

    calibrates: ClassVar[bool] = True
    targets: ClassVar[tuple[str, ...] | None] = LINEAR_ONLY
    packages: ClassVar[tuple[str, ...]] = ("torch", "gptqmodel", "transformers")
    backend: ClassVar[tuple[str, str]] = ("gptqmodel", "'pytest-fairquant[gptq]'")
    source: ClassVar[str] = "GPTQ (Frantar)"
    description: ClassVar[str] = (
        "GPTQ 4-bit weights (gptqmodel, groups of 128) of a Hugging Face causal LM, calibrated "
        "on the calibration part; CUDA"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(
            "gptq-int4",
            "group_size",
            self.group_size,
            _is_int(self.group_size) and (self.group_size == -1 or self.group_size >= 16),
            "-1 (per row) or an integer ≥ 16",
        )

    @property
    def name(self) -> str:
        return "gptq-int4"

    @property
    def weight_bits(self) -> float:
        return 4.0

    @property
    def needs_cuda(self) -> bool:
        return True

    def available(self) -> tuple[bool, str | None]:
        cuda, why = _cuda("GPTQ's layer solves and its int4 kernels run on CUDA")
        return super().available() if cuda else (cuda, why)

    def apply(self, model: nn.Module, calibration: CalibrationData | None = None) -> nn.Module:
        calibration = require_calibration(calibration, self.name)
        import tempfile

        from gptqmodel import GPTQModel, QuantizeConfig

        if not hasattr(model, "save_pretrained"):
            raise CompressionError(MSG_GPTQ_MODEL.format(cls=type(model).__name__))
        examples = [
            {k: v[i] for k, v in batch.items()}
            for batch in calibration.batches
            if isinstance(batch, dict)
            for i in range(len(next(iter(batch.values()))))
        ]
        with tempfile.TemporaryDirectory(prefix="fairquant-gptq-") as tmp:
            model.save_pretrained(tmp)  # type: ignore[operator]
            quantized = GPTQModel.load(tmp, QuantizeConfig(bits=4, group_size=self.group_size))
            quantized.quantize(examples)
        result: nn.Module = quantized.model
        return result
