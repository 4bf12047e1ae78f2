"""``static-int8``: post-training static int8 through torchao's PT2E flow, on the CPU.

``torch.export`` captures the model (strict mode, batch dimension dynamic), torchao's
``prepare_pt2e`` inserts observers where the ``X86InductorQuantizer`` annotates
(convolutions and linear layers, with their fused ReLU/add patterns), the calibration batches
run through the observed graph, and ``convert_pt2e`` folds the observed ranges into
quantize/dequantize pairs: activations uint8 per tensor (HistogramObserver), weights int8 per
output channel (PerChannelMinMaxObserver), batch norms folded into their convolutions. The
converted graph stores each weight as an int8 tensor (its dequantize feeds the float op), so
the variant is the deployed numerics in reference form; lowering to oneDNN kernels
(``torch.compile``) would change the speed, not the predictions beyond rounding.

The variant is an :class:`ExportedInt8Model` that runs the graph on the CPU; what it
quantized is read off the graph: every conv/linear whose weight comes from an int8 dequantize.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import CompressionError
from .calibration import DEFAULT_CALIBRATION_SIZE, CalibrationData, require_calibration
from .methods import MSG_MISSING_PACKAGE, _as_skip, _check, _is_int, _Method

if TYPE_CHECKING:
    from torch import fx, nn

MSG_NOT_EXPORTABLE = (
    "{method_id!r}: torch.export cannot capture {cls}, so it cannot be statically quantized: "
    "{reason}{where}. Make forward exportable (no Python branching on tensor values: "
    "torch.where or torch.cond; no .item(), .numpy() or data-dependent shapes), or pick a "
    "method that does not export the model (torchao-int8-dynamic, uniform-int8)."
)
MSG_NOT_QUANTIZABLE = (
    "{method_id!r}: torchao's X86InductorQuantizer could not quantize the exported {cls}: {error}"
)
_USER_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.+)')
_QUANTIZED_OPS = ("aten.conv1d", "aten.conv2d", "aten.conv3d", "aten.linear")
_DEQUANTIZE = (
    "quantized_decomposed.dequantize_per_channel",
    "quantized_decomposed.dequantize_per_tensor",
)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def export_failure(method_id: str, model: nn.Module, err: BaseException) -> CompressionError:
    """The error for a model torch.export cannot capture: the first unsupported operation
    (dynamo's reason) and the line of the user's code it was found on."""
    text = str(err)
    frames = [m for m in _USER_FRAME.finditer(text) if "/torch/" not in m.group(1)]
    where = ""
    if frames:
        path, line, func, code = frames[-1].groups()
        where = f" at {path}:{line} in {func}: `{code.strip()}`"
    reason = _first_line(text) or type(err).__name__
    return CompressionError(
        MSG_NOT_EXPORTABLE.format(
            method_id=method_id, cls=type(model).__name__, reason=reason, where=where
        )
    )


def _positional(batch: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return ((), dict(batch)) if isinstance(batch, Mapping) else ((batch,), {})


def _dynamic_batch(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import torch

    def spec(value: Any) -> Any:
        return {0: torch.export.Dim.AUTO} if isinstance(value, torch.Tensor) else None

    if kwargs:
        return {k: spec(v) for k, v in kwargs.items()}
    return tuple(spec(a) for a in args)


def export_model(model: nn.Module, example: Any, method_id: str) -> fx.GraphModule:
    """``torch.export`` (strict) of ``model`` on ``example``, batch dimension dynamic."""
    import torch

    args, kwargs = _positional(example)
    first = next(iter(kwargs.values()), None) if kwargs else args[0]
    if isinstance(first, torch.Tensor) and first.shape[0] == 1:
        # A batch of one would fix the batch dimension to 1 (export specialises 0 and 1).
        args = tuple(torch.cat([a, a]) for a in args)
        kwargs = {k: torch.cat([v, v]) for k, v in kwargs.items()}
    try:
        program = torch.export.export(
            model.eval(),
            args,
            kwargs=kwargs or None,
            dynamic_shapes=_dynamic_batch(args, kwargs),
            strict=True,
        )
    except Exception as err:  # dynamo's Unsupported, a guard on data, a user error...
        raise export_failure(method_id, model, err) from err
    graph: fx.GraphModule = program.module()
    return graph


def _module_path(node: fx.Node) -> str | None:
    """The dense model's name of the module a graph node came from (``layer1.0.conv1``)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path = str(list(stack.values())[-1][0])
    path = re.sub(r"^L\['self'\]\.?", "", path)
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    return path.replace("._modules['", ".").replace("']", "") or None


def quantized_layers(graph: fx.GraphModule) -> list[str]:
    """The conv/linear layers of a converted graph whose weight is an int8 dequantize."""
    found = []
    for node in graph.graph.nodes:
        if node.op != "call_function" or not str(node.target).startswith(_QUANTIZED_OPS):
            continue
        weight = node.args[1] if len(node.args) > 1 else None
        target = str(getattr(weight, "target", ""))
        if getattr(weight, "op", None) == "call_function" and target.startswith(_DEQUANTIZE):
            path = _module_path(node)
            if path is not None:
                found.append(path)
    return found


def _observers(graph: fx.GraphModule) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for _, module in graph.named_modules():
        name = type(module).__name__
        if name.endswith(("Observer", "FakeQuantize")):
            counts[name] += 1
    return dict(sorted(counts.items()))


def _keep_used_tensors(graph: fx.GraphModule) -> None:
    """Register the graph's constants as buffers and drop the float weights it no longer reads.

    ``convert_pt2e`` stores the int8 weights as plain attributes (``_frozen_param0``...) and
    leaves the folded float weights as unused parameters; as buffers the int8 tensors are
    counted, fingerprinted and copied like any model state, and the dead floats are not.
    """
    import torch

    used = {str(n.target) for n in graph.graph.nodes if n.op == "get_attr"}
    for name, _ in list(graph.named_parameters()):
        if name not in used:
            owner_name, _, attr = name.rpartition(".")
            owner = graph.get_submodule(owner_name) if owner_name else graph
            delattr(owner, attr)
    for target in used:
        owner_name, _, attr = target.rpartition(".")
        owner = graph.get_submodule(owner_name) if owner_name else graph
        value = getattr(owner, attr)
        if (
            isinstance(value, torch.Tensor)
            and attr not in owner._parameters
            and attr not in owner._buffers
        ):
            delattr(owner, attr)
            owner.register_buffer(attr, value)


def _call(model: Any, batch: Any) -> None:
    args, kwargs = _positional(batch)
    model(*args, **kwargs)


@dataclass(frozen=True)
class StaticInt8(_Method):
    """PT2E static int8 of convolutions and linear layers with activation calibration."""

    calibration_size: int = DEFAULT_CALIBRATION_SIZE
    reduce_range: bool = False
    skip: tuple[str, ...] = ()

    family: ClassVar[str] = "quantization"
    calibrates: ClassVar[bool] = True
    targets: ClassVar[tuple[str, ...] | None] = ("Linear", "Conv")
    packages: ClassVar[tuple[str, ...]] = ("torch", "torchao")
    source: ClassVar[str] = "Solanki, Padala"
    description: ClassVar[str] = (
        "static int8 of Conv/Linear with calibrated activations: torch.export + torchao "
        "prepare_pt2e/convert_pt2e with the X86InductorQuantizer, CPU"
    )

    def __post_init__(self) -> None:
        _check(
            "static-int8",
            "calibration_size",
            self.calibration_size,
            _is_int(self.calibration_size) and self.calibration_size >= 1,
            "an integer ≥ 1",
        )
        object.__setattr__(self, "skip", _as_skip(self.skip))

    @property
    def name(self) -> str:
        return "static-int8"

    @property
    def weight_bits(self) -> float:
        return 8.0

    def available(self) -> tuple[bool, str | None]:
        try:
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e  # noqa: F401
            from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (  # noqa: F401
                X86InductorQuantizer,
            )
        except Exception as err:
            return False, MSG_MISSING_PACKAGE.format(
                package="torchao", error=repr(err), pip="'pytest-fairquant[torchao]'"
            )
        return True, None

    def skip_reason(self, name: str, module: nn.Module) -> str:
        if name in self.skip or any(name.startswith(s + ".") for s in self.skip):
            return "in the skip list"
        return "not annotated by the X86InductorQuantizer (no int8 pattern for this use)"

    def apply(self, model: nn.Module, calibration: CalibrationData | None = None) -> nn.Module:
        calibration = require_calibration(calibration, self.name)
        import torch
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        model = model.cpu().eval()
        graph = export_model(model, calibration.example(), self.name)
        quantizer = xiq.X86InductorQuantizer()
        quantizer.set_global(
            xiq.get_default_x86_inductor_quantization_config(reduce_range=self.reduce_range)
        )
        for name in self.skip:
            quantizer.set_module_name_qconfig(name, None)
        try:
            prepared = prepare_pt2e(graph, quantizer)
        except Exception as err:
            raise CompressionError(
                MSG_NOT_QUANTIZABLE.format(
                    method_id=self.name, cls=type(model).__name__, error=repr(err)
                )
            ) from err
        observers = _observers(prepared)
        with torch.no_grad():
            for batch in calibration.batches:
                _call(prepared, batch)
        converted = convert_pt2e(prepared)
        _keep_used_tensors(converted)
        from ._host import ExportedInt8Model

        variant: nn.Module = ExportedInt8Model(converted)
        variant.fairquant_details = {  # type: ignore[assignment]
            "observers": observers,
            "activations": "uint8 per-tensor affine (HistogramObserver)",
            "weights": "int8 per-channel symmetric (PerChannelMinMaxObserver)",
            "quantizer": "X86InductorQuantizer",
            "export": "torch.export strict, dynamic batch",
        }
        return variant

    def measure(self, original: nn.Module, variant: nn.Module) -> dict[str, Any]:
        from ._ops import weight_targets
        from .core import SkippedLayer

        done = set(quantized_layers(variant.graph_module))  # type: ignore[arg-type]
        converted, skipped = [], []
        for name, module, _ in weight_targets(original, self.targets or ()):
            if name in done:
                converted.append(name)
            else:
                skipped.append(SkippedLayer(name, self.skip_reason(name, module)))
        return {"converted": tuple(converted), "skipped": tuple(skipped)}
