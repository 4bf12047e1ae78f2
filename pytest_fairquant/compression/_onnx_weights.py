"""Which of the dense model's parameters a quantized ONNX graph stores in 8 bits, and which in float.

onnxruntime names a quantized weight after its float initializer (``<name>_quantized``, a
MatMul weight it transposed ``<name>_Transposed_quantized``), but the dynamo exporter renames
many weights before that: the transposes and slices it folds into constants are ``val_<n>``
(open_clip's ViT keeps the names of 13 of its 49 image-tower weights). So a stored tensor is
attributed to a parameter by name where its name is the parameter's, else by value: the
tensor (dequantized with its scale and zero point, per tensor or per channel) equals the
parameter reshaped, or a block of its rows (``nn.MultiheadAttention`` slices its packed
``in_proj_weight`` into q, k, v), or the transpose of either, within half a quantization
step. Candidates are found by size and row length first, and a candidate is compared on its
first row before the whole, so an 88 M-parameter ViT is attributed in about a second.

Imported only when an ``onnx-int8-*`` variant is measured (it imports numpy and onnx).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import GraphProto, TensorProto, numpy_helper

QUANTIZED_SUFFIX = "_quantized"
TRANSPOSED_SUFFIX = "_Transposed"
_INT8 = (TensorProto.INT8, TensorProto.UINT8)
_FLOATS = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE)
#: Slack on half a quantization step: onnxruntime rounds in float32.
_STEP_SLACK = 1.001
#: A float initializer equals its parameter up to float32 rounding (a folded transpose is exact).
_FLOAT_RTOL = 1e-6


@dataclass(frozen=True)
class _Stored:
    """An initializer: its name, values (dequantized) and how far from a parameter they may be
    (broadcastable to the values; None: its scale is unknown, so it is attributed by name only)."""

    name: str
    values: np.ndarray
    tolerance: np.ndarray | None


@dataclass
class Attribution:
    """Per parameter, how many of its elements the graph stores int8, and float."""

    int8: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    in_float: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Elements of the int8 weight tensors attributed to no parameter (a folded buffer...).
    unattributed_int8: int = 0
    unattributed_int8_tensors: int = 0


def _base_name(name: str) -> str:
    return name.removesuffix(QUANTIZED_SUFFIX).removesuffix(TRANSPOSED_SUFFIX)


def _consumers(graph: GraphProto) -> dict[str, list[Any]]:
    users: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)
    return users


def _axis(node: Any) -> int:
    """A DequantizeLinear's axis (ONNX's default is 1)."""
    return next((int(a.i) for a in node.attribute if a.name == "axis"), 1)


def _step_tolerance(
    shape: tuple[int, ...], scale: np.ndarray, axis: int | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """``scale`` shaped to broadcast over a tensor of ``shape`` (per tensor, or per channel
    along ``axis``), and the tolerance of half a step; None when the layout is unknown."""
    if scale.size == 1:
        shaped = scale.reshape((1,) * len(shape))
    elif axis is not None and -len(shape) <= axis < len(shape) and shape[axis] == scale.size:
        layout = [1] * len(shape)
        layout[axis] = scale.size
        shaped = scale.reshape(layout)
    else:
        return None
    return shaped, np.abs(shaped) * (0.5 * _STEP_SLACK)


def int8_weights(graph: GraphProto) -> list[_Stored]:
    """The graph's int8/uint8 weight tensors (rank ≥ 2, read by a node), dequantized.

    The scale and zero point are a DequantizeLinear's inputs (QDQ, static) or onnxruntime's
    ``<base>_scale`` / ``<base>_zero_point`` initializers (MatMulInteger, ConvInteger: dynamic).
    """
    inits = {init.name: init for init in graph.initializer}
    users = _consumers(graph)
    out = []
    for init in graph.initializer:
        if init.data_type not in _INT8 or len(init.dims) < 2 or not users.get(init.name):
            continue
        q = numpy_helper.to_array(init)
        dequantize = next((n for n in users[init.name] if n.op_type == "DequantizeLinear"), None)
        base = init.name.removesuffix(QUANTIZED_SUFFIX)
        if dequantize is not None:
            names = list(dequantize.input[1:3])
            axis: int | None = _axis(dequantize)
        else:
            names = [base + "_scale", base + "_zero_point"]
            axis = None  # per tensor is all onnxruntime's dynamic quantizer writes
        scale_init = inits.get(names[0])
        if scale_init is None:
            out.append(_Stored(init.name, q, None))
            continue
        scale = numpy_helper.to_array(scale_init).astype(np.float32)
        zero_init = inits.get(names[1]) if len(names) > 1 else None
        zero = np.zeros(1, np.float32) if zero_init is None else numpy_helper.to_array(zero_init)
        shaped = _step_tolerance(q.shape, scale, axis)
        if shaped is None or zero.size not in (1, scale.size):
            out.append(_Stored(init.name, q, None))
            continue
        scale_b, tolerance = shaped
        zero_b = zero.astype(np.float32).reshape(scale_b.shape if zero.size > 1 else (1,) * q.ndim)
        out.append(_Stored(init.name, (q.astype(np.float32) - zero_b) * scale_b, tolerance))
    return out


def float_weights(graph: GraphProto) -> list[_Stored]:
    """The graph's floating-point initializers of rank ≥ 2 (weights left in float)."""
    out = []
    for init in graph.initializer:
        if init.data_type in _FLOATS and len(init.dims) >= 2:
            values = numpy_helper.to_array(init).astype(np.float32)
            scale = float(np.abs(values).max()) if values.size else 0.0
            tolerance = np.full((1,) * values.ndim, scale * _FLOAT_RTOL, np.float32)
            out.append(_Stored(init.name, values, tolerance))
    return out


def _equal(values: np.ndarray, view: np.ndarray, tolerance: np.ndarray) -> bool:
    """``values`` equal ``view`` within ``tolerance``, tried on the first row before the whole."""
    head = np.abs(values[:1] - view[:1]) <= np.broadcast_to(tolerance, values.shape)[:1]
    return bool(head.all() and (np.abs(values - view) <= tolerance).all())


class _Index:
    """The dense parameters by size and by row length, with the row ranges already claimed
    (a parameter's rows are attributed once: three q, k, v blocks, or the whole)."""

    def __init__(self, params: Mapping[str, np.ndarray]) -> None:
        self.params = params
        self.by_size: dict[int, list[str]] = defaultdict(list)
        self.by_row: dict[int, list[str]] = defaultdict(list)
        for name, p in params.items():
            self.by_size[p.size].append(name)
            if p.ndim == 2:
                self.by_row[p.shape[1]].append(name)
        self.claimed: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def _rows(self, name: str) -> int:
        p = self.params[name]
        return p.shape[0] if p.ndim else 1

    def _free(self, name: str, start: int, stop: int) -> bool:
        return all(stop <= a or b <= start for a, b in self.claimed[name])

    def claim(self, name: str, start: int, stop: int) -> int:
        """Mark rows ``start:stop`` of ``name`` as found; the elements they hold."""
        self.claimed[name].append((start, stop))
        return (stop - start) * (self.params[name].size // self._rows(name))

    def by_name(self, stored: _Stored) -> tuple[str, int, int] | None:
        """The parameter ``stored`` is named after (as it is, or transposed), if unclaimed."""
        shape = stored.values.shape
        for name in (stored.name, _base_name(stored.name)):
            p = self.params.get(name)
            if p is None:
                continue
            fits = p.shape == shape or (p.ndim == 2 and p.T.shape == shape)
            if fits and self._free(name, 0, self._rows(name)):
                return name, 0, self._rows(name)
        return None

    def by_value(self, stored: _Stored) -> tuple[str, int, int] | None:
        """The first unclaimed rows of a parameter that ``stored`` equals within its tolerance:
        a whole parameter (reshaped), or a block of its rows or the block's transpose."""
        values, tolerance = stored.values, stored.tolerance
        if tolerance is None:
            return None
        for name in self.by_size.get(values.size, ()):
            rows = self._rows(name)
            if self._free(name, 0, rows) and _equal(
                values, self.params[name].reshape(values.shape), tolerance
            ):
                return name, 0, rows
        if values.ndim != 2:
            return None
        spread = np.broadcast_to(tolerance, values.shape)
        # A block's first row is the values' first row, a transposed block's their first
        # column: the rows of a parameter that start like it are where a block may begin.
        for rows, key, key_tolerance, flip in (
            (values.shape[0], values[0], spread[0], False),
            (values.shape[1], values[:, 0], spread[:, 0], True),
        ):
            lead = min(8, key.size)
            for name in self.by_row.get(key.size, ()):
                p = self.params[name]
                if p.shape[0] < rows or (p.shape[0] == rows and not flip):
                    continue  # too short, or the whole parameter tried above
                near = np.abs(p[:, :lead] - key[:lead]) <= key_tolerance[:lead]
                for start in map(int, np.flatnonzero(near.all(axis=1))):
                    stop = start + rows
                    if stop > p.shape[0] or not self._free(name, start, stop):
                        continue
                    block = p[start:stop]
                    if _equal(values, block.T if flip else block, tolerance):
                        return name, start, stop
        return None


def _attribute_to(
    index: _Index, stored: Iterable[_Stored], counts: dict[str, int]
) -> list[_Stored]:
    """Attribute ``stored`` to ``index``'s parameters, adding the elements found to ``counts``;
    the tensors attributed to none. Name matches come first (a value match must not take a
    named one's rows), then one value match per tensor, then the parameters still free that
    a tensor also equals: the exporter stores identical initializers once (the layers of an
    untrained nn.TransformerEncoder are clones), but folds their transposes one by one."""
    attributed: list[_Stored] = []
    unnamed: list[_Stored] = []
    for s in stored:
        hit = index.by_name(s)
        (unnamed if hit is None else attributed).append(s)
        if hit is not None:
            counts[hit[0]] += index.claim(*hit)
    left: list[_Stored] = []
    for s in unnamed:
        hit = index.by_value(s)
        (left if hit is None else attributed).append(s)
        if hit is not None:
            counts[hit[0]] += index.claim(*hit)
    for s in attributed:
        while (hit := index.by_value(s)) is not None:
            counts[hit[0]] += index.claim(*hit)
    return left


def attribute(
    graph: GraphProto, params: Mapping[str, np.ndarray], wanted: Iterable[str] = ()
) -> Attribution:
    """Which elements of ``params`` the graph stores int8 and, for the ``wanted`` parameters
    not wholly int8, float."""
    found = Attribution()
    left = _attribute_to(_Index(params), int8_weights(graph), found.int8)
    found.unattributed_int8_tensors = len(left)
    found.unattributed_int8 = sum(s.values.size for s in left)
    rest = {n: params[n] for n in wanted if found.int8.get(n, 0) < params[n].size}
    if rest:
        _attribute_to(_Index(rest), float_weights(graph), found.in_float)
    return found
