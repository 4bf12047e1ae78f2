"""The built-in compression methods of METRICS.md ("Compression methods").

Each method is a frozen dataclass whose fields are its parameters, validated on construction,
so a bad id or parameter fails when it is parsed (at configuration time), not mid-run. Nothing
here imports torch or a backend until a method is applied or asked whether it is available.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import CompressionError, InputError
from .registry import MSG_OUT_OF_RANGE, MethodFactory

if TYPE_CHECKING:
    import torch
    from torch import nn

ALL_WEIGHTS = ("Linear", "Conv", "MultiheadAttention")
LINEAR_ONLY = ("Linear",)
MHA_REASON = (
    "projection of nn.MultiheadAttention, whose forward reads the weight directly instead of "
    "calling the Linear, so {backend} leaves it in float"
)
MSG_NEEDS_CUDA = (
    "needs CUDA: device={device!r} was asked for and torch.cuda.is_available() is False"
)
MSG_MISSING_PACKAGE = "needs the package {package!r} ({error}); install it with pip install {pip}"
MSG_NO_QUANTIZED_ENGINE = "this torch build has no quantized CPU engine (fbgemm, x86 or qnnpack)"
BNB_BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
HALF_DTYPES = ("float32", "float16", "bfloat16")


def _versions(*packages: str) -> dict[str, str]:
    found = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "missing"
    return found


def _importable(package: str, pip: str) -> tuple[bool, str | None]:
    try:
        importlib.import_module(package)
    except Exception as err:  # ImportError, or a backend's own failure to load its library
        return False, MSG_MISSING_PACKAGE.format(package=package, error=repr(err), pip=pip)
    return True, None


def _check(method: str, name: str, value: Any, ok: bool, rule: str) -> None:
    if not ok:
        raise InputError(
            MSG_OUT_OF_RANGE.format(method_id=method, name=name, value=value, rule=rule)
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_skip(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _dtype_name(value: Any) -> str:
    return str(value).removeprefix("torch.")


@dataclass(frozen=True)
class _Method:
    """Shared behaviour of the built-ins; subclasses set the class variables and ``apply``."""

    family: ClassVar[str]
    description: ClassVar[str]
    #: Where the method comes from: one of the project's papers (``shared/papers``) or a tool.
    source: ClassVar[str] = ""
    targets: ClassVar[tuple[str, ...] | None] = ALL_WEIGHTS
    packages: ClassVar[tuple[str, ...]] = ("torch",)

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def weight_bits(self) -> float | None:
        """Bits per stored weight value the method represents (None: unchanged)."""
        return None

    @property
    def needs_cuda(self) -> bool:
        """Whether the variant can only be built or run on CUDA (``fairquant sweep --ray``
        gives its task a GPU)."""
        return False

    def available(self) -> tuple[bool, str | None]:
        return True, None

    def versions(self) -> dict[str, str]:
        return _versions(*self.packages)

    def skip_reason(self, name: str, module: nn.Module) -> str:
        if skip := getattr(self, "skip", ()):
            from ._ops import skipped_by_name

            if skipped_by_name(name, skip):
                return "in the skip list"
        return "left unchanged by the method"

    def apply(self, model: nn.Module) -> nn.Module:
        raise NotImplementedError


# --------------------------------------------------------------------------- quantization


@dataclass(frozen=True)
class UniformQuantization(_Method):
    """Per-tensor (or per-channel) asymmetric min-max PTQ of weights; activations stay float."""

    bits: int = 8
    per_channel: bool = False
    skip: tuple[str, ...] = ()

    family: ClassVar[str] = "quantization"
    source: ClassVar[str] = "Bellam, Kim"
    description: ClassVar[str] = (
        "uniform asymmetric min-max PTQ of Linear/Conv/attention weights to B bits (2-16), "
        "dequantized back to float; per_channel=True for one grid per output channel"
    )

    def __post_init__(self) -> None:
        _check(
            "uniform",
            "bits",
            self.bits,
            _is_int(self.bits) and 2 <= self.bits <= 16,
            "an integer from 2 to 16",
        )
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return f"uniform-int{self.bits}"

    @property
    def weight_bits(self) -> float:
        return float(self.bits)

    def apply(self, model: nn.Module) -> nn.Module:
        import torch

        from ._ops import float_weights, uniform_fake_quant

        with torch.no_grad():
            for _, _, _, w in float_weights(model, ALL_WEIGHTS, self.skip):
                w.copy_(uniform_fake_quant(w, self.bits, self.per_channel))
        return model


@dataclass(frozen=True)
class KMeansClustering(_Method):
    """Weight sharing: each weight tensor's values clustered to K shared values (1-D k-means)."""

    clusters: int
    max_iter: int = 30
    skip: tuple[str, ...] = ()

    family: ClassVar[str] = "quantization"
    source: ClassVar[str] = "Solanki, Padala"
    description: ClassVar[str] = (
        "per-tensor 1-D k-means weight clustering to K shared values (linear init, deterministic)"
    )

    def __post_init__(self) -> None:
        rule = "an integer from 2 to 65536"
        _check(
            self.name,
            "K",
            self.clusters,
            _is_int(self.clusters) and 2 <= self.clusters <= 65536,
            rule,
        )
        _check(
            self.name,
            "max_iter",
            self.max_iter,
            _is_int(self.max_iter) and self.max_iter >= 1,
            "an integer ≥ 1",
        )
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return f"kmeans-{self.clusters}"

    @property
    def weight_bits(self) -> float:
        from ._ops import bits_for

        return bits_for(self.clusters)

    def apply(self, model: nn.Module) -> nn.Module:
        import torch

        from ._ops import float_weights, kmeans_1d

        with torch.no_grad():
            for _, _, _, w in float_weights(model, ALL_WEIGHTS, self.skip):
                w.copy_(kmeans_1d(w, self.clusters, self.max_iter))
        return model


@dataclass(frozen=True)
class _HalfPrecision(_Method):
    family: ClassVar[str] = "quantization"
    dtype: ClassVar[str]
    targets: ClassVar[tuple[str, ...] | None] = None  # any floating model can be cast

    @property
    def name(self) -> str:
        return {"float16": "fp16", "bfloat16": "bf16"}[self.dtype]

    @property
    def weight_bits(self) -> float:
        return 16.0

    def apply(self, model: nn.Module) -> nn.Module:
        import torch

        from ._cast import HalfPrecisionModel

        return HalfPrecisionModel(model, getattr(torch, self.dtype))

    def measure(self, original: nn.Module, variant: nn.Module) -> dict[str, Any]:
        """Every floating parameter is cast, not only the Linear/Conv weights."""
        from .core import parameter_elements

        total = parameter_elements(original)
        cast = sum(p.numel() for p in original.parameters() if p.is_floating_point())
        return {"share": cast / total if total else 0.0}


@dataclass(frozen=True)
class Float16(_HalfPrecision):
    dtype: ClassVar[str] = "float16"
    source: ClassVar[str] = "Bellam, Kim"
    description: ClassVar[str] = (
        "cast to float16; float32 inputs and outputs are cast at the boundary"
    )


@dataclass(frozen=True)
class BFloat16(_HalfPrecision):
    dtype: ClassVar[str] = "bfloat16"
    source: ClassVar[str] = "Bellam, Kim"
    description: ClassVar[str] = (
        "cast to bfloat16; float32 inputs and outputs are cast at the boundary"
    )


# --------------------------------------------------------------------------- backends


@dataclass(frozen=True)
class _Bnb(_Method):
    targets: ClassVar[tuple[str, ...] | None] = LINEAR_ONLY
    packages: ClassVar[tuple[str, ...]] = ("torch", "bitsandbytes")
    family: ClassVar[str] = "quantization"

    def _device(self) -> str | None:
        return getattr(self, "device", None)

    @property
    def needs_cuda(self) -> bool:
        return str(self._device()).startswith("cuda")

    def available(self) -> tuple[bool, str | None]:
        ok, reason = _importable("bitsandbytes", "bitsandbytes")
        if not ok:
            return ok, reason
        device = self._device()
        if device is not None and str(device).startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                return False, MSG_NEEDS_CUDA.format(device=device)
        return True, None

    def skip_reason(self, name: str, module: nn.Module) -> str:
        if type(module).__name__ == "NonDynamicallyQuantizableLinear" or name.endswith(
            "_proj_weight"
        ):
            return MHA_REASON.format(backend="bitsandbytes module swapping")
        return super().skip_reason(name, module)

    def _convert(self, linear: nn.Linear, device: Any) -> nn.Module:
        raise NotImplementedError

    def apply(self, model: nn.Module) -> nn.Module:
        from bitsandbytes.nn.modules import Linear4bit, Linear8bitLt
        from torch import nn
        from torch.nn.modules.linear import NonDynamicallyQuantizableLinear

        from ._ops import skipped_by_name

        bnb_types = (Linear8bitLt, Linear4bit)
        for parent_name, parent in list(model.named_modules()):
            for child_name, child in list(parent.named_children()):
                full = f"{parent_name}.{child_name}" if parent_name else child_name
                if (
                    isinstance(child, nn.Linear)
                    and not isinstance(child, (NonDynamicallyQuantizableLinear, *bnb_types))
                    and not skipped_by_name(full, getattr(self, "skip", ()))
                ):
                    device = self._device() or child.weight.device
                    setattr(parent, child_name, self._convert(child, device))
        return model


@dataclass(frozen=True)
class BnbInt8(_Bnb):
    """bitsandbytes LLM.int8(): Linear8bitLt with int8 row-wise weights and outlier threshold."""

    threshold: float = 6.0
    skip: tuple[str, ...] = ()
    device: str | None = None

    source: ClassVar[str] = "Slyman et al."
    description: ClassVar[str] = (
        "bitsandbytes LLM.int8() (Linear8bitLt, threshold 6.0, int8 weights) on every nn.Linear"
    )

    def __post_init__(self) -> None:
        _check("bnb-int8", "threshold", self.threshold, self.threshold >= 0, "a number ≥ 0")
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return "bnb-int8"

    @property
    def weight_bits(self) -> float:
        return 8.0

    def _convert(self, linear: nn.Linear, device: Any) -> nn.Module:
        import torch
        from bitsandbytes.nn.modules import Int8Params, Linear8bitLt

        new = Linear8bitLt(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            has_fp16_weights=False,
            threshold=self.threshold,
        )
        # Int8Params quantizes when it is moved off the CPU, or "to" the CPU from the CPU in
        # bitsandbytes ≥ 0.45 (the CPU backend): so the float weight goes in on the CPU and the
        # module's .to(device) below is what quantizes it, on whichever device was asked.
        new.weight = Int8Params(
            linear.weight.data.detach().to("cpu", torch.float32),
            requires_grad=False,
            has_fp16_weights=False,
        )
        if linear.bias is not None:
            new.bias = torch.nn.Parameter(linear.bias.data.detach().clone(), requires_grad=False)
        new.train(linear.training)
        moved: nn.Module = new.to(device)  # type: ignore[no-untyped-call]
        return moved


def guard_cpu_kernel(layer: Any, blocksize: int) -> None:
    """Keep a bnb ``Linear4bit`` off the AVX512-BF16 CPU kernel unless it can honour the layer.

    bitsandbytes 0.50 sends CPU forwards of 4-bit layers on AVX512-BF16 hosts to a fused kernel
    that computes in bfloat16 whatever the layer's ``compute_dtype`` ("cpu fused op only support
    bf16 for now", ``backends/cpu/ops.py``), so a float32 variant gave other predictions, and
    other verdicts, on such a host than on any other (the tabular example's NF4 accuracy drop
    was 0.079 there, 0.027 elsewhere). The generic kernel dequantizes to ``compute_dtype``. The
    fused kernel's repacking also asserts whole blocks per row and output rows in tiles of 32
    (``functional._convert_weight_packed_for_cpu``); the generic kernel takes any shape.
    """
    import torch

    misfit = layer.in_features % blocksize or layer.out_features % 32
    if misfit or layer.compute_dtype is not torch.bfloat16:
        layer.support_avx512bf16_for_cpu = False


@dataclass(frozen=True)
class _Bnb4(_Bnb):
    blocksize: int = 64
    compress_statistics: bool = False
    compute_dtype: str = "float32"
    skip: tuple[str, ...] = ()
    device: str | None = None

    quant_type: ClassVar[str]

    def __post_init__(self) -> None:
        _check(
            self.name,
            "blocksize",
            self.blocksize,
            self.blocksize in BNB_BLOCKSIZES,
            f"one of {BNB_BLOCKSIZES}",
        )
        dtype = _dtype_name(self.compute_dtype)
        _check(
            self.name,
            "compute_dtype",
            self.compute_dtype,
            dtype in HALF_DTYPES,
            f"one of {HALF_DTYPES}",
        )
        object.__setattr__(self, "compute_dtype", dtype)
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return f"bnb-{self.quant_type}"

    @property
    def weight_bits(self) -> float:
        return 4.0

    def _convert(self, linear: nn.Linear, device: Any) -> nn.Module:
        import torch
        from bitsandbytes.nn.modules import Linear4bit, Params4bit

        new = Linear4bit(  # type: ignore[no-untyped-call]
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            compute_dtype=getattr(torch, self.compute_dtype),
            compress_statistics=self.compress_statistics,
            quant_type=self.quant_type,
        )
        # Params4bit quantizes on its first .to(device) (any device but meta), see BnbInt8.
        new.weight = Params4bit(
            linear.weight.data.detach().to("cpu", torch.float32),
            requires_grad=False,
            blocksize=self.blocksize,
            compress_statistics=self.compress_statistics,
            quant_type=self.quant_type,
            module=new,
        )
        if linear.bias is not None:
            new.bias = torch.nn.Parameter(linear.bias.data.detach().clone(), requires_grad=False)
        guard_cpu_kernel(new, self.blocksize)
        new.train(linear.training)
        moved: nn.Module = new.to(device)
        return moved


@dataclass(frozen=True)
class BnbNF4(_Bnb4):
    quant_type: ClassVar[str] = "nf4"
    source: ClassVar[str] = "Slyman et al."
    description: ClassVar[str] = (
        "bitsandbytes 4-bit NormalFloat (Linear4bit, blocksize 64) on every nn.Linear"
    )


@dataclass(frozen=True)
class BnbFP4(_Bnb4):
    quant_type: ClassVar[str] = "fp4"
    source: ClassVar[str] = "Slyman et al."
    description: ClassVar[str] = (
        "bitsandbytes 4-bit float (Linear4bit, blocksize 64) on every nn.Linear"
    )


@dataclass(frozen=True)
class TorchDynamicInt8(_Method):
    """torch.ao eager dynamic quantization: int8 weights, activations quantized per batch."""

    skip: tuple[str, ...] = ()

    targets: ClassVar[tuple[str, ...] | None] = LINEAR_ONLY
    family: ClassVar[str] = "quantization"
    source: ClassVar[str] = "Slyman et al."
    description: ClassVar[str] = (
        "PyTorch dynamic int8 (quantize_dynamic) on nn.Linear, CPU only; "
        "nn.MultiheadAttention projections stay float"
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return "torch-dynamic-int8"

    @property
    def weight_bits(self) -> float:
        return 8.0

    def available(self) -> tuple[bool, str | None]:
        import torch

        engines = [e for e in torch.backends.quantized.supported_engines if e != "none"]
        return (True, None) if engines else (False, MSG_NO_QUANTIZED_ENGINE)

    def skip_reason(self, name: str, module: nn.Module) -> str:
        if type(module).__name__ == "NonDynamicallyQuantizableLinear" or name.endswith(
            "_proj_weight"
        ):
            return MHA_REASON.format(backend="torch.ao dynamic quantization")
        return super().skip_reason(name, module)

    def apply(self, model: nn.Module) -> nn.Module:
        import warnings

        import torch
        from torch import nn

        from ._ops import skipped_by_name

        spec: dict[Any, Any] = {nn.Linear: torch.ao.quantization.default_dynamic_qconfig}
        # Every module a skip name covers, not only the name itself: torch's per-type entry
        # would otherwise still reach the Linears inside a skipped parent.
        spec.update(
            {name: None for name, _ in model.named_modules() if skipped_by_name(name, self.skip)}
        )
        # torch.ao eager quantization is deprecated in favour of torchao (offered as
        # torchao-int8-dynamic) but is what paper 000 measured; its warnings are expected here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings(
                "ignore", message=r".*quantize_per_tensor.*", category=UserWarning
            )
            # Quantized dynamic kernels exist on the CPU only.
            quantized: nn.Module = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                model.cpu(), spec, dtype=torch.qint8
            )
            return quantized


@dataclass(frozen=True)
class _Torchao(_Method):
    skip: tuple[str, ...] = ()

    targets: ClassVar[tuple[str, ...] | None] = LINEAR_ONLY
    packages: ClassVar[tuple[str, ...]] = ("torch", "torchao")
    family: ClassVar[str] = "quantization"
    config: ClassVar[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def weight_bits(self) -> float:
        return 8.0

    def available(self) -> tuple[bool, str | None]:
        return _importable("torchao", "torchao")

    def skip_reason(self, name: str, module: nn.Module) -> str:
        if type(module).__name__ == "NonDynamicallyQuantizableLinear" or name.endswith(
            "_proj_weight"
        ):
            return MHA_REASON.format(backend="torchao's quantize_")
        return super().skip_reason(name, module)

    def apply(self, model: nn.Module) -> nn.Module:
        import torchao.quantization as tq
        from torch import nn
        from torch.nn.modules.linear import NonDynamicallyQuantizableLinear

        from ._ops import skipped_by_name

        def wanted(module: nn.Module, fqn: str) -> bool:
            # torchao's default filter, plus the skip list.
            return (
                isinstance(module, nn.Linear)
                and not isinstance(module, NonDynamicallyQuantizableLinear)
                and not skipped_by_name(fqn, self.skip)
            )

        tq.quantize_(model, getattr(tq, self.config)(), filter_fn=wanted)
        return model


@dataclass(frozen=True)
class TorchaoInt8Weight(_Torchao):
    config: ClassVar[str] = "Int8WeightOnlyConfig"
    source: ClassVar[str] = "torchao"
    description: ClassVar[str] = "torchao quantize_ with Int8WeightOnlyConfig on nn.Linear"

    @property
    def name(self) -> str:
        return "torchao-int8-weight"


@dataclass(frozen=True)
class TorchaoInt8Dynamic(_Torchao):
    config: ClassVar[str] = "Int8DynamicActivationInt8WeightConfig"
    source: ClassVar[str] = "torchao"
    description: ClassVar[str] = (
        "torchao quantize_ with Int8DynamicActivationInt8WeightConfig on nn.Linear"
    )

    @property
    def name(self) -> str:
        return "torchao-int8-dynamic"


# --------------------------------------------------------------------------- pruning


def _check_sparsity(method: str, sparsity: Any) -> None:
    ok = isinstance(sparsity, (int, float)) and not isinstance(sparsity, bool) and 0 < sparsity < 1
    _check(method, "S", sparsity, ok, "a fraction strictly between 0 and 1")


@dataclass(frozen=True)
class _Pruning(_Method):
    """Pruning computes one keep-mask per weight and folds it in: permanent, no reparametrisation.

    torch.nn.utils.prune would leave ``weight_orig``/``weight_mask`` until ``prune.remove``;
    multiplying the mask in directly is the same end state without the copies, and the masks
    come from an O(n) selection instead of prune's full top-k (78 s vs 3 s globally on ViT-B-32).
    """

    family: ClassVar[str] = "pruning"

    def _masks(self, weights: list[torch.Tensor]) -> list[torch.Tensor]:
        raise NotImplementedError

    def apply(self, model: nn.Module) -> nn.Module:
        import torch

        from ._ops import float_weights

        weights = [w for *_, w in float_weights(model, ALL_WEIGHTS, getattr(self, "skip", ()))]
        with torch.no_grad():
            for w, keep in zip(weights, self._masks(weights), strict=True):
                w.mul_(keep.to(w.dtype))
        return model


@dataclass(frozen=True)
class GlobalMagnitude(_Pruning):
    sparsity: float
    skip: tuple[str, ...] = ()

    source: ClassVar[str] = "Iofinova et al."
    description: ClassVar[str] = (
        "unstructured magnitude pruning with one threshold across all Linear/Conv/attention "
        "weights, S in (0, 1)"
    )

    def __post_init__(self) -> None:
        _check_sparsity("global-magnitude", self.sparsity)
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return f"global-magnitude-{self.sparsity:g}"

    def _masks(self, weights: list[torch.Tensor]) -> list[torch.Tensor]:
        return global_magnitude_masks(weights, self.sparsity)


def global_magnitude_masks(weights: list[torch.Tensor], sparsity: float) -> list[torch.Tensor]:
    """Keep-masks dropping the share ``sparsity`` of the smallest |w| of all ``weights`` together."""
    import torch

    from ._ops import keep_largest

    scores = torch.cat([w.detach().abs().reshape(-1) for w in weights])
    keep = keep_largest(scores, round(sparsity * scores.numel()))
    return [
        k.reshape(w.shape)
        for k, w in zip(torch.split(keep, [w.numel() for w in weights]), weights, strict=True)
    ]


MSG_NEEDS_FINETUNE = (
    "{method_id!r} prunes gradually while fine-tuning, so it needs a training loop: set "
    "fairquant_finetune = 'package.module:callable' (called as fn(model, data, steps)), or call "
    "compress(model, {method_id!r}, finetune=FineTune(fn, data, steps))"
)


@dataclass(frozen=True)
class GradualMagnitude(GlobalMagnitude):
    """Paper 004's gradual magnitude pruning: global magnitude pruning raised on the cubic
    schedule over the fine-tuning steps (see :mod:`.finetune`)."""

    gradual: ClassVar[bool] = True
    source: ClassVar[str] = "Iofinova et al."
    description: ClassVar[str] = (
        "gradual magnitude pruning: global magnitude sparsity raised from 0 to S on the cubic "
        "schedule (Zhu & Gupta) over the steps of the fairquant_finetune training loop"
    )

    @property
    def name(self) -> str:
        return f"gmp-{self.sparsity:g}"

    def masks_at(self, weights: list[torch.Tensor], step: int, steps: int) -> list[torch.Tensor]:
        """The keep-masks after optimizer step ``step`` of ``steps``."""
        from .finetune import cubic_sparsity

        return global_magnitude_masks(weights, cubic_sparsity(self.sparsity, step, steps))

    def apply(self, model: nn.Module) -> nn.Module:
        # compress() prunes it during fine-tuning; alone it has no steps to prune over.
        raise CompressionError(MSG_NEEDS_FINETUNE.format(method_id=self.name))


@dataclass(frozen=True)
class L1Unstructured(_Pruning):
    sparsity: float
    skip: tuple[str, ...] = ()

    source: ClassVar[str] = "Sinha, Groover"
    description: ClassVar[str] = (
        "unstructured magnitude pruning of each weight tensor to sparsity S"
    )

    def __post_init__(self) -> None:
        _check_sparsity("l1-unstructured", self.sparsity)
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return f"l1-unstructured-{self.sparsity:g}"

    def _masks(self, weights: list[torch.Tensor]) -> list[torch.Tensor]:
        from ._ops import keep_largest

        return [
            keep_largest(w.detach().abs().reshape(-1), round(self.sparsity * w.numel())).reshape(
                w.shape
            )
            for w in weights
        ]


@dataclass(frozen=True)
class LnStructured(_Pruning):
    sparsity: float
    norm: float = 2.0
    skip: tuple[str, ...] = ()

    source: ClassVar[str] = "Sinha, Groover"
    description: ClassVar[str] = (
        "structured pruning: the share S of output channels (dim 0) with the smallest L2 norm "
        "set to zero in each weight tensor"
    )

    def __post_init__(self) -> None:
        _check_sparsity("ln-structured", self.sparsity)
        _check(self.name, "norm", self.norm, self.norm > 0, "a positive number")
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return f"ln-structured-{self.sparsity:g}"

    def _masks(self, weights: list[torch.Tensor]) -> list[torch.Tensor]:
        from ._ops import keep_largest

        masks = []
        for w in weights:
            norms = w.detach().reshape(w.shape[0], -1).norm(p=self.norm, dim=1)
            rows = keep_largest(norms, round(self.sparsity * w.shape[0]))
            masks.append(rows.reshape(-1, *([1] * (w.dim() - 1))).expand_as(w))
        return masks


@dataclass(frozen=True)
class NMSparsity(_Pruning):
    n: int
    m: int
    skip: tuple[str, ...] = ()

    source: ClassVar[str] = "Iofinova et al."
    description: ClassVar[str] = (
        "N:M semi-structured pruning: in every group of M consecutive input-channel weights "
        "keep the N largest"
    )

    def __post_init__(self) -> None:
        method = f"nm-{self.n}:{self.m}"
        _check(method, "M", self.m, _is_int(self.m) and self.m >= 2, "an integer ≥ 2")
        _check(
            method,
            "N",
            self.n,
            _is_int(self.n) and 1 <= self.n < self.m,
            f"an integer with 1 ≤ N < M = {self.m}",
        )
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return f"nm-{self.n}:{self.m}"

    def _masks(self, weights: list[torch.Tensor]) -> list[torch.Tensor]:
        from ._ops import nm_mask

        return [nm_mask(w, self.n, self.m) for w in weights]


# (id or pattern, factory, example id for patterns)
BUILTINS: tuple[tuple[str, MethodFactory, str | None], ...] = (
    ("bnb-int8", BnbInt8, None),
    ("bnb-nf4", BnbNF4, None),
    ("bnb-fp4", BnbFP4, None),
    ("torch-dynamic-int8", TorchDynamicInt8, None),
    ("torchao-int8-weight", TorchaoInt8Weight, None),
    ("torchao-int8-dynamic", TorchaoInt8Dynamic, None),
    ("uniform-int{bits}", UniformQuantization, "uniform-int8"),
    ("uniform", UniformQuantization, None),
    ("fp16", Float16, None),
    ("bf16", BFloat16, None),
    ("kmeans-{clusters}", KMeansClustering, "kmeans-16"),
    ("global-magnitude-{sparsity}", GlobalMagnitude, "global-magnitude-0.5"),
    ("gmp-{sparsity}", GradualMagnitude, "gmp-0.5"),
    ("l1-unstructured-{sparsity}", L1Unstructured, "l1-unstructured-0.5"),
    ("ln-structured-{sparsity}", LnStructured, "ln-structured-0.5"),
    ("nm-{n}:{m}", NMSparsity, "nm-2:4"),
)


def all_builtins() -> tuple[tuple[str, MethodFactory, str | None], ...]:
    """BUILTINS and the methods whose backends live in modules of their own (calibrating,
    ONNX Runtime, weight-only), which import from this one."""
    from .onnx import OnnxInt8Dynamic, OnnxInt8Static
    from .pt2e import StaticInt8
    from .weight_only import (
        GptqInt4,
        HqqInt4,
        QuantoInt4,
        QuantoInt8,
        TorchaoInt4Weight,
    )

    return (
        *BUILTINS,
        ("static-int8", StaticInt8, None),
        ("onnx-int8-static", OnnxInt8Static, None),
        ("onnx-int8-dynamic", OnnxInt8Dynamic, None),
        ("quanto-int8", QuantoInt8, None),
        ("quanto-int4", QuantoInt4, None),
        ("hqq-int4", HqqInt4, None),
        ("torchao-int4-weight", TorchaoInt4Weight, None),
        ("gptq-int4", GptqInt4, None),
    )
