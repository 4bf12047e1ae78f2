"""``onnx-int8-static`` and ``onnx-int8-dynamic``: the ONNX Runtime artifact many teams deploy.

The model is exported with ``torch.onnx.export`` (the dynamo exporter, batch dimension
dynamic, opset 18 by default), the float export is checked against torch on the first
calibration batch (largest absolute difference at most ``export_atol``, 1e-4: a gate on a
variant whose float graph already differs would measure the exporter, not the quantization),
then quantized by ``onnxruntime.quantization``:

- static: ``quantize_static`` in QDQ format, int8 weights per output channel, uint8 activations
  whose ranges a :class:`CalibrationDataReader` over the calibration batches observes (MinMax);
- dynamic: ``quantize_dynamic``, int8 weights (ConvInteger/MatMulInteger), activations
  quantized per batch at run time; the calibration data is only the export example.

Both quantize weights to 7 bits by default (``reduce_range=True``): onnxruntime runs uint8 ×
int8 products on ``VPMADDUBSW`` on x86 CPUs without VNNI, whose int16 sums of two products
clamp, so full-range weights give one CPU's CI other predictions than another's (measured on
this project's AVX2 machine, an ``nn.Linear(8, 4)`` on its calibration batch, outputs up to
1.6: errors of 0.92 static and 0.60 dynamic with 8-bit weights, 0.02 with 7-bit ones).
onnxruntime's quantization docs name this remedy; pass ``reduce_range=False`` for the
full-range artifact a VNNI machine runs without clamping.

The variant is an :class:`~._host.OnnxRuntimeModel`: an ``InferenceSession`` on the
CPUExecutionProvider behind a torch module, so ``predict`` and every gate treat it as a model.
It records the opset, the onnxruntime version, the execution provider and the float check.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import CompressionError
from .calibration import (
    CALIBRATION_BATCH,
    DEFAULT_CALIBRATION_SIZE,
    CalibrationData,
    require_calibration,
)
from .methods import _check, _importable, _is_int, _Method, _versions

if TYPE_CHECKING:
    from torch import nn

    from ._onnx_weights import Attribution

MSG_EXPORT_MISMATCH = (
    "{method_id!r}: the float ONNX export of {cls} differs from torch by up to {diff:.3g} on "
    "the first calibration batch (allowed {atol:g}), before any quantization; the exporter "
    "changed the model (check ops with data-dependent behaviour), so its int8 variant would "
    "not measure quantization. Pass export_atol= to accept a larger difference."
)
MSG_ONNX_EXPORT = "{method_id!r}: torch.onnx.export could not export {cls}: {error}"
MSG_ONNX_INPUTS = (
    "{method_id!r}: the ONNX variant takes positional tensor inputs; the calibration batches "
    "are {kind}"
)
PROVIDER = "CPUExecutionProvider"
SKIP_FLOAT = "left in float by onnxruntime.quantization"
SKIP_NOT_FOUND = (
    "{int8} of its {total} values found int8 and {float} float in the quantized graph (by "
    "name or value): the export or pre-processing changed the rest, so it is not counted as "
    "quantized"
)


@dataclass(frozen=True)
class _Exported:
    """The float ONNX model and the dense parameters its graph reads."""

    model_bytes: bytes
    parameters: frozenset[str]


def _read_parameters(program: Any, model: nn.Module) -> frozenset[str]:
    """The parameters the exported forward reads: torch.export lifts every parameter of the
    module to a graph input, so those the forward never touches (open_clip's text tower under
    ``forward(image)``) are the inputs nothing uses. All of them when there is no program."""
    exported = getattr(program, "exported_program", None)
    if exported is None:
        return frozenset(name for name, _ in model.named_parameters())
    lifted = exported.graph_signature.inputs_to_parameters
    return frozenset(
        lifted[node.name]
        for node in exported.graph.nodes
        if node.op == "placeholder" and node.name in lifted and node.users
    )


def _export(model: nn.Module, example: Any, opset: int, method_id: str) -> _Exported:
    import torch

    if not isinstance(example, torch.Tensor):
        raise CompressionError(
            MSG_ONNX_INPUTS.format(method_id=method_id, kind=type(example).__name__)
        )
    if example.shape[0] == 1:  # export would fix a batch dimension traced at 1
        example = torch.cat([example, example])
    try:
        # The exporter prints its progress to stdout whatever verbose says.
        with contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(
                model.eval(),
                (example,),
                dynamo=True,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                opset_version=opset,
                verbose=False,
            )
    except Exception as err:
        from .pt2e import export_failure

        if "torch.export" in str(err) or type(err).__module__.startswith("torch._dynamo"):
            raise export_failure(method_id, model, err) from err
        raise CompressionError(
            MSG_ONNX_EXPORT.format(method_id=method_id, cls=type(model).__name__, error=err)
        ) from err
    assert program is not None
    data: bytes = program.model_proto.SerializeToString()
    return _Exported(data, _read_parameters(program, model))


def _tensors(output: Any) -> list[Any]:
    """The tensors of a model's output in order (a tuple, dict...); the exporter drops the
    ``None`` entries (open_clip's ``CLIP.forward(image)`` returns one for the text)."""
    import torch
    from torch.utils._pytree import tree_leaves

    return [leaf for leaf in tree_leaves(output) if isinstance(leaf, torch.Tensor)]


def _max_diff(model: nn.Module, onnx_bytes: bytes, example: Any) -> float:
    """The largest absolute difference between torch's and the ONNX model's outputs on
    ``example``, paired in order; outputs that do not pair up are an infinite difference."""
    import torch

    from ._host import OnnxRuntimeModel

    runtime = OnnxRuntimeModel(onnx_bytes)
    with torch.no_grad():
        want = _tensors(model(example))
        got = _tensors(runtime(example))
    if len(want) != len(got):
        return float("inf")
    pairs = list(zip(want, got, strict=True))
    if any(w.shape != g.shape for w, g in pairs):
        return float("inf")
    return max(float((w.float() - g.float()).abs().max()) for w, g in pairs)


class _Reader:
    """The calibration batches as onnxruntime's CalibrationDataReader (one dict per batch)."""

    def __init__(self, name: str, calibration: CalibrationData) -> None:
        self._feeds = iter([{name: b.detach().cpu().numpy()} for b in calibration.batches])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # part of the reader protocol; one pass is all MinMax needs
        return None


def _preprocess(src: Path, dst: Path) -> bool:
    """onnxruntime's recommended pre-processing (shape inference, graph optimisation)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
    except Exception:  # symbolic shape inference cannot take every graph: quantize as exported
        return False
    return True


@dataclass(frozen=True)
class _OnnxInt8(_Method):
    opset: int = 18
    export_atol: float = 1e-4
    calibration_size: int = DEFAULT_CALIBRATION_SIZE
    reduce_range: bool = True

    family: ClassVar[str] = "quantization"
    calibrates: ClassVar[bool] = True
    targets: ClassVar[tuple[str, ...] | None] = ("Linear", "Conv")
    packages: ClassVar[tuple[str, ...]] = ("torch", "onnx", "onnxruntime", "onnxscript")
    mode: ClassVar[str]
    #: Run onnxruntime's pre-processing first (it fuses MatMul + Add into Gemm, which the
    #: dynamic quantizer has no integer kernel for, so only the static one wants it).
    preprocess: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check(self.name, "opset", self.opset, _is_int(self.opset) and self.opset >= 13, "≥ 13")
        _check(self.name, "export_atol", self.export_atol, self.export_atol >= 0, "≥ 0")
        _check(
            self.name,
            "calibration_size",
            self.calibration_size,
            _is_int(self.calibration_size) and self.calibration_size >= 1,
            "an integer ≥ 1",
        )
        _check(
            self.name,
            "reduce_range",
            self.reduce_range,
            isinstance(self.reduce_range, bool),
            "True or False",
        )

    @property
    def name(self) -> str:
        return f"onnx-int8-{self.mode}"

    @property
    def weight_bits(self) -> float:
        return 8.0

    def available(self) -> tuple[bool, str | None]:
        for package in ("onnx", "onnxruntime", "onnxscript"):
            ok, reason = _importable(package, "'pytest-fairquant[onnx]'")
            if not ok:
                return ok, reason
        return True, None

    def versions(self) -> dict[str, str]:
        return _versions(*self.packages)

    def _quantize(self, src: Path, dst: Path, input_name: str, data: CalibrationData) -> None:
        raise NotImplementedError

    def apply(self, model: nn.Module, calibration: CalibrationData | None = None) -> nn.Module:
        calibration = require_calibration(calibration, self.name)
        import onnx
        import onnxruntime

        from ._host import OnnxRuntimeModel

        model = model.cpu().eval()
        example = calibration.example()
        export = _export(model, example, self.opset, self.name)
        float_bytes = export.model_bytes
        diff = _max_diff(model, float_bytes, example)
        if diff > self.export_atol:
            raise CompressionError(
                MSG_EXPORT_MISMATCH.format(
                    method_id=self.name, cls=type(model).__name__, diff=diff, atol=self.export_atol
                )
            )
        input_name = onnx.load_from_string(float_bytes).graph.input[0].name
        with tempfile.TemporaryDirectory(prefix="fairquant-onnx-") as tmp:
            exported, prepared, out = (Path(tmp) / n for n in ("f.onnx", "p.onnx", "q.onnx"))
            exported.write_bytes(float_bytes)
            preprocessed = self.preprocess and _preprocess(exported, prepared)
            # onnxruntime.quantization logs advice on the root logger (pre-processing...).
            logging.disable(logging.WARNING)
            try:
                self._quantize(prepared if preprocessed else exported, out, input_name, calibration)
            finally:
                logging.disable(logging.NOTSET)
            quantized = out.read_bytes()
        variant = OnnxRuntimeModel(quantized, exported_parameters=export.parameters)
        variant.fairquant_details = {  # type: ignore[assignment]
            "opset": self.opset,
            "onnxruntime": onnxruntime.__version__,
            "execution_provider": PROVIDER,
            "exporter": "torch.onnx.export(dynamo=True), dynamic batch",
            "float_export_max_abs_diff": diff,
            "preprocessed": preprocessed,
            **self._settings(),
            "weight_range": "7-bit (reduce_range)" if self.reduce_range else "8-bit",
        }
        return variant

    def _settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def measure(self, original: nn.Module, variant: nn.Module) -> dict[str, Any]:
        """What the quantized graph stores (attributed as :mod:`._onnx_weights` says).

        The share is of the parameters the exported graph reads: those ``forward`` never
        touches are neither compressed nor part of the artifact, and ``details`` says how many
        of the model's parameter values the graph holds (``exported_parameters``).
        """
        import onnx

        from ._onnx_weights import attribute
        from ._ops import weight_targets
        from .core import _ALL_KINDS, SkippedLayer, parameter_elements

        graph = onnx.load_from_string(variant.model_bytes).graph  # type: ignore[arg-type]
        stored = sum(
            onnx.helper.tensor_dtype_to_np_dtype(init.data_type).itemsize * math.prod(init.dims)
            for init in graph.initializer
        )
        params = _exported_arrays(original, getattr(variant, "exported_parameters", None))
        name_of = {id(p): name for name, p in original.named_parameters()}
        shown = {
            name_of[id(weight)]: display
            for display, module, attr in weight_targets(original, _ALL_KINDS)
            if id(weight := getattr(module, attr)) in name_of
        }
        targets = [name for name in shown if name in params]
        found = attribute(graph, params, wanted=targets)
        converted = [
            shown.get(name, name) for name, p in params.items() if found.int8.get(name) == p.size
        ]
        skipped = [
            SkippedLayer(shown[name], _skip_reason(params[name].size, found, name))
            for name in targets
            if found.int8.get(name, 0) < params[name].size
        ]
        exported = sum(p.size for p in params.values())
        details: dict[str, Any] = {
            "exported_parameters": {"elements": exported, "of": parameter_elements(original)}
        }
        if found.unattributed_int8_tensors:
            details["int8_tensors_unattributed"] = {
                "count": found.unattributed_int8_tensors,
                "elements": found.unattributed_int8,
            }
        return {
            "converted": tuple(converted),
            "skipped": tuple(skipped),
            "bytes_after": stored,
            "share": sum(found.int8.values()) / exported if exported else 0.0,
            "details": details,
        }


def _skip_reason(total: int, found: Attribution, name: str) -> str:
    """Why a weight is not counted as quantized: it is float in the graph, or not all found."""
    int8, in_float = found.int8.get(name, 0), found.in_float.get(name, 0)
    if int8 == 0 and in_float == total:
        return SKIP_FLOAT
    return SKIP_NOT_FOUND.format(int8=int8, total=total, float=in_float)


def _exported_arrays(model: nn.Module, exported: frozenset[str] | None) -> dict[str, Any]:
    """The model's parameters the export reads (all when not known, or when no name is the
    model's), as float32 numpy arrays sharing the tensors' memory where they are float32 on
    the CPU; tied ones once."""
    aliases = dict(model.named_parameters(remove_duplicate=False))
    read = {id(aliases[name]) for name in exported or () if name in aliases} or {
        id(p) for p in aliases.values()
    }
    return {
        name: p.detach().cpu().float().numpy()
        for name, p in model.named_parameters()
        if id(p) in read
    }


@dataclass(frozen=True)
class OnnxInt8Static(_OnnxInt8):
    """ONNX export + onnxruntime quantize_static (QDQ, per-channel int8 weights)."""

    per_channel: bool = True

    mode: ClassVar[str] = "static"
    source: ClassVar[str] = "ONNX Runtime"
    description: ClassVar[str] = (
        "ONNX export + onnxruntime quantize_static (QDQ, int8 per-channel weights, uint8 "
        "activations calibrated MinMax), run in an InferenceSession on the CPU"
    )

    def _settings(self) -> dict[str, Any]:
        return {
            "quant_format": "QDQ",
            "weights": "int8 " + ("per-channel" if self.per_channel else "per-tensor"),
            "activations": "uint8, MinMax calibration",
        }

    def _quantize(self, src: Path, dst: Path, input_name: str, data: CalibrationData) -> None:
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )

        quantize_static(
            str(src),
            str(dst),
            _Reader(input_name, data),
            quant_format=QuantFormat.QDQ,
            per_channel=self.per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            reduce_range=self.reduce_range,
        )


@dataclass(frozen=True)
class OnnxInt8Dynamic(_OnnxInt8):
    """ONNX export + onnxruntime quantize_dynamic (int8 weights, activations per batch)."""

    #: Dynamic quantization observes nothing: one batch is the export example and the check.
    calibration_size: int = CALIBRATION_BATCH

    mode: ClassVar[str] = "dynamic"
    preprocess: ClassVar[bool] = False
    source: ClassVar[str] = "ONNX Runtime"
    description: ClassVar[str] = (
        "ONNX export + onnxruntime quantize_dynamic (int8 weights, activations quantized per "
        "batch), run in an InferenceSession on the CPU; calibration= is the export example"
    )

    def _settings(self) -> dict[str, Any]:
        return {"weights": "int8 per-tensor", "activations": "quantized per batch at run time"}

    def _quantize(self, src: Path, dst: Path, input_name: str, data: CalibrationData) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(src), str(dst), weight_type=QuantType.QInt8, reduce_range=self.reduce_range
        )
