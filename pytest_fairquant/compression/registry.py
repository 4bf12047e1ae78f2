"""The registry of compression methods: ids, id patterns, parsing and third-party extension.

A method is registered under an exact id (``bnb-int8``) or an id pattern whose ``{placeholders}``
are numbers (``global-magnitude-{sparsity}``, ``nm-{n}:{m}``); the factory is called with the
parsed numbers plus the caller's keyword parameters and returns a :class:`CompressionMethod`.
Third parties register with :func:`register_method` or through the entry point group
``pytest_fairquant.methods`` (name: the id or pattern, object: the factory). Entry points are
loaded lazily, once; one that fails to load is listed as an unavailable method with its error.
This module does not import torch, so the plugin can validate ids at configuration time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import InputError

if TYPE_CHECKING:
    from torch import nn

ENTRY_POINT_GROUP = "pytest_fairquant.methods"

MSG_UNKNOWN_METHOD = (
    "unknown compression method {method_id!r}; known ids and patterns: {known}. "
    "Pick one of them, or register your own with register_method()."
)
MSG_BAD_PARAMS = (
    "compression method {method_id!r} does not accept the parameters {params}: {error}. "
    "It accepts: {accepted}."
)
MSG_PARAM_CONFLICT = (
    "compression method {method_id!r}: the id sets {name}={in_id!r} but the keyword argument "
    "says {name}={given!r}; give it once."
)
MSG_OUT_OF_RANGE = "compression method {method_id!r}: {name}={value!r} is out of range, {rule}."
MSG_BROKEN_ENTRY_POINT = "entry point {name!r} ({value}) of group {group!r} failed to load: {error}"
MSG_DUPLICATE = (
    "compression method pattern {pattern!r} is already registered; pass replace=True to "
    "override it."
)
MSG_EXAMPLE_NEEDED = (
    "pattern {pattern!r} has placeholders, so register_method() needs example= (an id that "
    "matches it) to check availability"
)

Family = str  # "quantization", "pruning", or a third party's own family name


@runtime_checkable
class CompressionMethod(Protocol):
    """A configured compression method: what :func:`compress` calls.

    ``available()`` says whether it can run here, with the reason when not (missing package,
    needs CUDA); ``apply(model)`` compresses ``model`` in place or returns a new module (it
    receives a private deep copy, never the user's model). Optional attributes read when
    present: ``family``, ``description``, ``source`` (the paper or tool the method comes from),
    ``targets`` (module kinds it needs: "Linear", "Conv",
    "MultiheadAttention"), ``weight_bits``, ``needs_cuda`` (True: ``fairquant sweep --ray``
    gives its task a GPU), ``versions()`` and ``skip_reason(name, module)``.
    """

    @property
    def name(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any]: ...

    def available(self) -> tuple[bool, str | None]: ...

    def apply(self, model: nn.Module) -> nn.Module: ...


MethodFactory = Callable[..., CompressionMethod]


@dataclass(frozen=True)
class MethodStatus:
    """One registered id or pattern, as listed by :func:`compression_methods`."""

    id: str
    family: str
    description: str
    available: bool
    reason: str | None = None
    source: str = ""


@dataclass(frozen=True)
class ParsedMethod:
    """A method id resolved against the registry, with its validated parameters."""

    method_id: str
    pattern: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class _Entry:
    pattern: str
    factory: MethodFactory | None
    regex: re.Pattern[str]
    family: str
    description: str
    example: str | None
    error: str | None = None  # set for entry points that failed to load
    source: str = ""


@dataclass
class _Registry:
    entries: dict[str, _Entry] = field(default_factory=dict)
    builtins_loaded: bool = False
    entry_points_loaded: bool = False


_REGISTRY = _Registry()
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _compile(pattern: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(pattern)
    # split() alternates literal text and placeholder names.
    regex = "".join(
        re.escape(part) if i % 2 == 0 else rf"(?P<{part}>\d+(?:\.\d+)?)"
        for i, part in enumerate(parts)
    )
    return re.compile(rf"{regex}\Z")


def _number(text: str) -> int | float:
    return int(text) if text.isdigit() else float(text)


def register_method(
    pattern: str,
    factory: MethodFactory,
    *,
    family: str | None = None,
    description: str | None = None,
    example: str | None = None,
    replace: bool = False,
    source: str | None = None,
) -> None:
    """Register ``factory`` under an exact id or an id pattern with ``{number}`` placeholders.

    ``family``, ``description`` and ``source`` (the paper or tool the method comes from, shown
    by ``fairquant methods``) default to the factory's attributes of the same name;
    ``example`` (an id matching the pattern) is needed when the pattern has placeholders, so
    that :func:`compression_methods` can ask an instance whether it is available.
    """
    _load_builtins()
    if pattern in _REGISTRY.entries and not replace:
        raise InputError(MSG_DUPLICATE.format(pattern=pattern))
    if example is None and _PLACEHOLDER.search(pattern) is None:
        example = pattern
    if example is None:
        raise InputError(MSG_EXAMPLE_NEEDED.format(pattern=pattern))
    _REGISTRY.entries[pattern] = _Entry(
        pattern=pattern,
        factory=factory,
        regex=_compile(pattern),
        family=family or str(getattr(factory, "family", "custom")),
        description=description or str(getattr(factory, "description", "")),
        example=example,
        source=source or str(getattr(factory, "source", "")),
    )


def _load_builtins() -> None:
    if _REGISTRY.builtins_loaded:
        return
    _REGISTRY.builtins_loaded = True
    from . import methods

    for pattern, factory, example in methods.all_builtins():
        register_method(pattern, factory, example=example)


def _load_entry_points() -> None:
    if _REGISTRY.entry_points_loaded:
        return
    _REGISTRY.entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY.entries:
            continue  # an explicit register_method() call wins over packaging metadata
        try:
            factory = ep.load()
            register_method(
                ep.name, factory, example=getattr(factory, "example", None), replace=True
            )
        except Exception as err:  # a third party's import error must not end the session
            error = MSG_BROKEN_ENTRY_POINT.format(
                name=ep.name, value=ep.value, group=ENTRY_POINT_GROUP, error=repr(err)
            )
            _REGISTRY.entries[ep.name] = _Entry(
                pattern=ep.name,
                factory=None,
                regex=_compile(ep.name),
                family="unknown",
                description=f"entry point {ep.value}",
                example=None,
                error=error,
            )


def _entries() -> dict[str, _Entry]:
    _load_builtins()
    _load_entry_points()
    return _REGISTRY.entries


def _match(method_id: str) -> tuple[_Entry, dict[str, int | float]]:
    for entry in _entries().values():
        found = entry.regex.match(method_id)
        if found is not None:
            return entry, {k: _number(v) for k, v in found.groupdict().items()}
    known = ", ".join(sorted(_entries()))
    raise InputError(MSG_UNKNOWN_METHOD.format(method_id=method_id, known=known))


def _accepted(factory: MethodFactory) -> str:
    import inspect

    try:
        names = [
            p for p in inspect.signature(factory).parameters if p not in ("self", "args", "kwargs")
        ]
    except (TypeError, ValueError):
        return "see the method's documentation"
    return ", ".join(names) or "no parameters"


def build_method(method_id: str, params: Mapping[str, Any] | None = None) -> CompressionMethod:
    """The configured method for ``method_id`` plus keyword ``params`` (validated)."""
    from ..errors import MethodUnavailable

    entry, from_id = _match(method_id)
    if entry.factory is None:
        raise MethodUnavailable(method_id, entry.error or "failed to load")
    merged: dict[str, Any] = dict(from_id)
    for name, given in (params or {}).items():
        if name in from_id and from_id[name] != given:
            raise InputError(
                MSG_PARAM_CONFLICT.format(
                    method_id=method_id, name=name, in_id=from_id[name], given=given
                )
            )
        merged[name] = given
    try:
        return entry.factory(**merged)
    except TypeError as err:
        raise InputError(
            MSG_BAD_PARAMS.format(
                method_id=method_id,
                params=sorted(merged),
                error=err,
                accepted=_accepted(entry.factory),
            )
        ) from err


def parse_method_id(method_id: str, **params: Any) -> ParsedMethod:
    """Resolve ``method_id`` (``"global-magnitude-0.9"``, ``"nm-2:4"``, ``"kmeans-16"``).

    Raises :class:`~pytest_fairquant.errors.InputError` naming the known ids and patterns for
    an unknown id, and for parameters out of range.
    """
    entry, _ = _match(method_id)
    method = build_method(method_id, params)
    return ParsedMethod(method_id=method_id, pattern=entry.pattern, params=dict(method.params))


def compression_methods(*, check: bool = True) -> list[MethodStatus]:
    """Every registered id or pattern, with whether it can run here and why not.

    ``check=False`` answers without importing any built-in backend (``fairquant methods``,
    which must answer at once): a built-in method is listed as available when the distributions
    it names in ``packages`` are installed and it does not need CUDA; a backend that is installed
    but fails to load is only found by ``check=True``, which runs each method's
    ``available()``. A third party's method always runs its own check: only it knows.
    """
    statuses = []
    for pattern, entry in sorted(_entries().items()):
        if entry.factory is None or entry.example is None:
            statuses.append(
                MethodStatus(
                    pattern, entry.family, entry.description, False, entry.error, entry.source
                )
            )
            continue
        try:
            method = build_method(entry.example)
            quick = not check and type(method).__module__.startswith(
                "pytest_fairquant.compression."
            )
            ok, reason = _installed(method) if quick else method.available()
        except Exception as err:  # an extension's broken availability check is its own status
            ok, reason = False, repr(err)
        statuses.append(
            MethodStatus(pattern, entry.family, entry.description, ok, reason, entry.source)
        )
    return statuses


def _installed(method: Any) -> tuple[bool, str | None]:
    """Availability from installed distributions alone (no import), see compression_methods."""
    from importlib.metadata import PackageNotFoundError, version

    for package in getattr(method, "packages", ()):
        try:
            version(package)
        except PackageNotFoundError:
            return False, f"needs the package {package!r}: pip install {package}"
    if getattr(method, "needs_cuda", False):
        return False, "needs CUDA; fairquant methods --check tells whether this machine has it"
    return True, None
