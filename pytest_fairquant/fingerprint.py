"""Stable identities of models, code and data, used as prediction-cache keys.

A dense model is identified by the bytes of every parameter and buffer and by the code of every
module class in it (:func:`code_identity`: the class source, for each class of its MRO below
``nn.Module``). A variant made by :func:`pytest_fairquant.compression.compress` is identified by
its plan (``compression.VariantPlan``: the dense model's fingerprint, the method id, its
parameters, the backend versions, the method's code, the calibration data, the fine-tuning, the
device), known before compressing, so a cached variant's predictions are found without building
the variant or hashing quantized tensors, and change when any input of the compression changes.
``docs/internals.md`` ("What the cache key hashes") lists every part.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import pickle
import re
import types
import weakref
from collections.abc import Mapping
from typing import Any

#: Default object reprs carry a memory address, which would change an identity every run.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
#: How deep :func:`value_identity` follows attributes, closures and containers.
_MAX_DEPTH = 4

_class_codes: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def _tensor_bytes(t: Any) -> bytes:
    import torch

    t = t.detach()
    try:
        return bytes(t.cpu().contiguous().view(torch.uint8).numpy().tobytes())
    except (RuntimeError, TypeError, NotImplementedError):
        # Tensor subclasses (torchao, bitsandbytes) that refuse a byte view still serialise.
        buf = io.BytesIO()
        torch.save(t.cpu(), buf)
        return buf.getvalue()


def _bytecode(code: types.CodeType) -> bytes:
    """The bytecode of ``code`` and of the functions nested in it, with names and constants."""
    parts = [code.co_code, repr(code.co_names).encode()]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            parts.append(_bytecode(const))
        elif isinstance(const, frozenset):  # its repr's order changes with hash randomisation
            parts.append(repr(sorted(const, key=repr)).encode())
        else:
            parts.append(repr(const).encode())
    return b"\0".join(parts)


def _source(obj: Any) -> str:
    """``obj``'s source text, else its qualified name and a hash of its bytecode."""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        pass
    name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    codes = [obj.__code__] if hasattr(obj, "__code__") else []
    if isinstance(obj, type):
        for value in vars(obj).values():
            func = getattr(value, "__func__", value)  # staticmethod / classmethod
            if hasattr(func, "__code__"):
                codes.append(func.__code__)
    digest = hashlib.sha256(b"".join(_bytecode(c) for c in codes)).hexdigest()
    return f"{name}:bytecode={digest}"


def class_code(cls: type) -> str:
    """The code identity of ``cls``: the source of each class in its MRO up to ``nn.Module``.

    Classes of the standard library and of torch itself are named with their qualified name (and
    torch's version in the key stands for their code), the rest by their source.
    """
    known = _class_codes.get(cls)
    if known is not None:
        return known
    h = hashlib.sha256(b"fairquant-class-v1")
    for klass in cls.__mro__:
        module = klass.__module__
        if klass is object or module == "builtins":
            continue
        h.update(f"{module}.{klass.__qualname__}\0".encode())
        if not module.startswith("torch."):
            h.update(_source(klass).encode())
    identity = h.hexdigest()[:32]
    _class_codes[cls] = identity
    return identity


def _stable_repr(value: Any) -> str:
    return _ADDRESS.sub("", repr(value))


def value_identity(value: Any, depth: int = 0) -> str:
    """A stable text identity of a transform, an output picker or any value they hold.

    Functions: their source (or bytecode), defaults and closure values. ``functools.partial``:
    the function and its arguments. Other callables and objects: their class's code and their
    attributes, each by its own identity. Tensors and arrays: their bytes. Anything else: its
    repr without memory addresses. An object's ``fingerprint`` (a string, or a method returning
    one) replaces all of this.
    """
    if depth > _MAX_DEPTH:
        return type(value).__qualname__
    explicit = getattr(value, "fingerprint", None)
    if isinstance(explicit, str):
        return explicit
    if callable(explicit) and not isinstance(value, type):
        return str(explicit())
    nested = functools.partial(value_identity, depth=depth + 1)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    func = value.__func__ if isinstance(value, types.MethodType) else value
    if isinstance(func, types.FunctionType):  # a Python function, or a method bound to one
        # The bytecode too: two lambdas on one line share their source text.
        parts = [_source(func), _bytecode(func.__code__).hex()]
        parts += [repr(func.__defaults__), repr(func.__kwdefaults__)]
        parts += [nested(cell.cell_contents) for cell in func.__closure__ or () if _filled(cell)]
        if isinstance(value, types.MethodType):
            parts.append(nested(value.__self__))
        digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
        return f"{digest}:{func.__module__}.{func.__qualname__}"
    if isinstance(value, functools.partial):
        args = [nested(a) for a in value.args]
        kwargs = [f"{k}={nested(v)}" for k, v in sorted(value.keywords.items())]
        return f"partial({nested(value.func)}, {args}, {kwargs})"
    if isinstance(value, type):
        return class_code(value)
    if hasattr(value, "detach") or hasattr(value, "__array_interface__"):
        return _content_digest(value)
    if isinstance(value, Mapping):
        pairs = sorted(value.items(), key=lambda kv: repr(kv[0]))
        return "{" + ", ".join(f"{k!r}: {nested(v)}" for k, v in pairs) + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return f"{type(value).__name__}[" + ", ".join(nested(v) for v in items) + "]"
    if isinstance(value, types.BuiltinFunctionType | types.ModuleType):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', value)}"
    state = getattr(value, "__dict__", None)
    if state is None:
        return f"{class_code(type(value))}:{_stable_repr(value)}"
    fields = ", ".join(
        f"{k}={nested(v)}" for k, v in sorted(state.items()) if not k.startswith("__")
    )
    return f"{class_code(type(value))}({fields})"


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell (a name assigned after the closure was made)
        return False
    return True


def _content_digest(value: Any) -> str:
    """sha256 of an array's or tensor's dtype, shape and bytes."""
    import numpy as np

    h = hashlib.sha256()
    if hasattr(value, "detach"):
        h.update(f"{tuple(value.shape)}:{value.dtype}".encode())
        h.update(_tensor_bytes(value))
    else:
        arr = np.ascontiguousarray(value)
        h.update(f"{arr.shape}:{arr.dtype.str}".encode())
        h.update(arr.reshape(-1).view(np.uint8).data)
    return h.hexdigest()[:32]


def item_bytes(item: Any) -> bytes:
    """The content of one data item for hashing: tensors and arrays by their bytes, images by
    their pixels, containers item by item, other objects pickled (else by their repr)."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    if hasattr(item, "detach") or hasattr(item, "__array_interface__"):
        return _content_digest(item).encode()
    if hasattr(item, "tobytes") and hasattr(item, "mode") and hasattr(item, "size"):  # PIL image
        pixels: bytes = item.tobytes()
        return f"{item.mode}:{item.size}:".encode() + pixels
    if isinstance(item, Mapping):
        pairs = sorted(item.items(), key=lambda kv: repr(kv[0]))
        return b"\1".join(repr(k).encode() + b"=" + item_bytes(v) for k, v in pairs)
    if isinstance(item, (list, tuple)):
        return b"(" + b"\1".join(item_bytes(v) for v in item) + b")"
    try:
        return pickle.dumps(item, protocol=4)
    except Exception:  # an unpicklable item: its repr is the best identity left
        return _stable_repr(item).encode()


def variant_fingerprint(parts: tuple[Any, ...]) -> str:
    """The 32-hex-digit identity of a variant from its ``fingerprint_parts()`` (or, before it
    is built, from its ``VariantPlan.parts()``: the same parts)."""
    h = hashlib.sha256(b"fairquant-variant-v1")
    h.update(repr(parts).encode())
    return h.hexdigest()[:32]


def model_fingerprint(model: Any) -> str:
    """A 32-hex-digit identity of ``model``: its own ``fairquant_fingerprint``, else variant
    info when present, else code + weights."""
    # The explicit name first: a variant that is not built yet (compression.lazy) names itself,
    # and asking it for anything else would build it.
    explicit = getattr(model, "fairquant_fingerprint", None)
    if isinstance(explicit, str):
        return explicit
    info = getattr(model, "fairquant_info", None)
    if info is not None and hasattr(info, "fingerprint_parts"):
        return variant_fingerprint(info.fingerprint_parts())
    h = hashlib.sha256(b"fairquant-model-v2")
    if hasattr(model, "modules"):
        import torch

        # torch's own classes are named, not read: its version stands for their code.
        h.update(f"torch={torch.__version__}".encode())
        for cls in dict.fromkeys(type(m) for m in model.modules()):
            h.update(class_code(cls).encode())
    else:  # a plain callable: its code and what it closes over
        h.update(value_identity(model).encode())
    state = dict(model.state_dict()) if hasattr(model, "state_dict") else {}
    if hasattr(model, "named_buffers"):
        # Non-persistent buffers are not in the state dict but change the outputs all the same.
        for name, buffer in model.named_buffers():
            state.setdefault(name, buffer)
    for name in sorted(state):
        value = state[name]
        h.update(name.encode() + b"\0")
        if hasattr(value, "detach"):
            h.update(f"{tuple(value.shape)}:{value.dtype}".encode())
            h.update(_tensor_bytes(value))
        elif isinstance(value, (tuple, list)):
            # torch.ao's packed (weight, bias): the repr of a large tensor elides its middle,
            # so two quantized models differing there would share a key.
            h.update(item_bytes(value))
        else:
            h.update(repr(value).encode())
    return h.hexdigest()[:32]
