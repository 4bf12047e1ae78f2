"""Candidates: the already-compressed release artifact, gated like a variant ``compress`` made.

A team often ships a model another tool compressed (an ONNX file quantized by onnxruntime, a
Hugging Face checkpoint loaded with its own ``quantization_config``, a pruned state dict). A
candidate names the factory that loads it, ``name = package.module:callable``
(``fairquant_candidates``, ``--fairquant-candidates``, ``@pytest.mark.fairquant(candidates=...)``,
``fairquant sweep --candidate``). This module owns:

- :class:`Candidate` and :func:`parse_candidates`, the option table's parser of those entries;
- :func:`as_candidate_model`: what a factory returned, as a model ``predict`` can run (a torch
  module as it is, an ``onnxruntime.InferenceSession`` wrapped in the ONNX variants'
  :class:`~.compression._host.OnnxRuntimeModel`), or None when it is not a model;
- :class:`CandidateInfo`, put at ``model.fairquant_info`` as a compressed variant's
  ``CompressionInfo`` is: its ``method_id`` (the candidate's name) names the predictions,
  records and report rows, and its fingerprint (the factory and the returned model's own
  fingerprint) keys the prediction cache.

Importing it imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

MSG_CANDIDATE_ENTRY = (
    "each candidate must be written 'name = package.module:callable' (e.g. "
    "'int8-release = mypkg.release:load_int8'); got {entry!r}"
)
MSG_CANDIDATE_NAME = (
    "candidate name {name!r} must be letters, digits, '.', '_' or '-' (it is the test id and "
    "the report's method name)"
)
MSG_CANDIDATE_TWICE = "candidate {name!r} is named twice; give each candidate its own name"
#: What a candidate factory may return (the ``expected`` of the factory-type message).
CANDIDATE_MODELS = (
    "a torch.nn.Module (a Hugging Face model loaded with its quantization config is one) or "
    "an onnxruntime.InferenceSession"
)

_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Candidate:
    """One ``name = package.module:callable`` entry."""

    name: str
    factory: str

    def __str__(self) -> str:
        return f"{self.name}={self.factory}"


def _entries(value: Any) -> list[tuple[str, str]]:
    """``(name, factory)`` pairs of a mapping, or of ``name=factory`` texts: a linelist, a
    Python list, or one text with entries separated by commas or newlines."""
    if isinstance(value, Mapping):
        return [(str(k).strip(), str(v).strip()) for k, v in value.items()]
    items = [value] if isinstance(value, str) else list(value)
    pairs = []
    for item in items:
        for entry in (e.strip() for e in str(item).replace(",", "\n").splitlines()):
            if not entry:
                continue
            name, sep, factory = entry.partition("=")
            if not sep:
                raise ValueError(MSG_CANDIDATE_ENTRY.format(entry=entry))
            pairs.append((name.strip(), factory.strip()))
    return pairs


def parse_candidates(value: Any) -> tuple[Candidate, ...]:
    """The option table's parser of ``fairquant_candidates`` (ValueError with the sentence to
    show); ``none`` or nothing is no candidate."""
    if isinstance(value, str) and value.strip() in ("", "none"):
        return ()
    found: dict[str, Candidate] = {}
    for name, factory in _entries(value):
        if not name or not factory:
            raise ValueError(MSG_CANDIDATE_ENTRY.format(entry=f"{name}={factory}"))
        if not _NAME.fullmatch(name):
            raise ValueError(MSG_CANDIDATE_NAME.format(name=name))
        if ":" not in factory or not all(factory.split(":", 1)):
            raise ValueError(MSG_CANDIDATE_ENTRY.format(entry=f"{name} = {factory}"))
        if name in found:
            raise ValueError(MSG_CANDIDATE_TWICE.format(name=name))
        found[name] = Candidate(name, factory)
    return tuple(found.values())


@dataclass(frozen=True)
class CandidateInfo:
    """What a candidate is (``candidate_model.fairquant_info``): its name, its factory and the
    fingerprint of the model the factory returned, with what that model says about its own
    compression (``details``)."""

    method_id: str
    factory: str
    model_fingerprint: str
    model_type: str
    details: Mapping[str, Any] = field(default_factory=dict)
    family: str = "candidate"

    def fingerprint_parts(self) -> tuple[Any, ...]:
        """The candidate's identity for the prediction cache: the factory and the model."""
        return ("candidate", self.factory, self.model_fingerprint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method_id": self.method_id,
            "family": self.family,
            "factory": self.factory,
            "model_fingerprint": self.model_fingerprint,
            "model_type": self.model_type,
            "details": dict(self.details),
        }


def _session_type() -> Any:
    """``onnxruntime.InferenceSession`` when onnxruntime is imported (a session could not
    exist otherwise), so checking a torch model never imports it."""
    module = sys.modules.get("onnxruntime")
    return None if module is None else module.InferenceSession


def as_candidate_model(value: Any) -> nn.Module | None:
    """What a candidate factory returned as a model (see the module docstring), else None."""
    from torch import nn

    if isinstance(value, nn.Module):
        return value
    session = _session_type()
    if session is not None and isinstance(value, session):
        from .compression._host import OnnxRuntimeModel

        return OnnxRuntimeModel.from_session(value)
    return None


def own_fingerprint(model: nn.Module) -> str:
    """The returned model's fingerprint: an ONNX model's by its bytes (it has no torch
    state), any other by :func:`~.fingerprint.model_fingerprint`."""
    from .compression._host import OnnxRuntimeModel
    from .fingerprint import model_fingerprint

    info = getattr(model, "fairquant_info", None)
    if isinstance(info, CandidateInfo):
        # The same object returned again after its release: it keeps the identity it had.
        return info.model_fingerprint
    if isinstance(model, OnnxRuntimeModel):
        return hashlib.sha256(b"fairquant-onnx-v1" + model.model_bytes).hexdigest()[:32]
    return model_fingerprint(model)


def _details(model: nn.Module) -> dict[str, Any]:
    """What the model records of its own compression, for the report: a Hugging Face model's
    ``quantization_config``, an ONNX session's providers, a ``compress`` variant's info."""
    from .compression._host import OnnxRuntimeModel
    from .compression.core import info_dict

    info = getattr(model, "fairquant_info", None)
    if isinstance(info, CandidateInfo):  # returned again after its release (own_fingerprint)
        return dict(info.details)
    details: dict[str, Any] = {}
    if isinstance(model, OnnxRuntimeModel):
        import onnxruntime

        details["onnxruntime"] = onnxruntime.__version__
        details["execution_providers"] = list(model.session().get_providers())
    config = getattr(getattr(model, "config", None), "quantization_config", None)
    if config is not None:
        to_dict = getattr(config, "to_dict", None)
        details["quantization_config"] = to_dict() if callable(to_dict) else dict(config)
    if info is not None:  # a variant compress() made, shipped as the release artifact
        details["compression"] = info_dict(model)
    return details


def tag_candidate(model: nn.Module, candidate: Candidate, fingerprint: str) -> nn.Module:
    """``model`` carrying its :class:`CandidateInfo` (``fingerprint`` is its own, from
    :func:`own_fingerprint`)."""
    info = CandidateInfo(
        method_id=candidate.name,
        factory=candidate.factory,
        model_fingerprint=fingerprint,
        model_type=f"{type(model).__module__}.{type(model).__qualname__}",
        details=_details(model),
    )
    model.fairquant_info = info  # type: ignore[assignment]
    return model


__all__ = [
    "CANDIDATE_MODELS",
    "MSG_CANDIDATE_ENTRY",
    "MSG_CANDIDATE_NAME",
    "MSG_CANDIDATE_TWICE",
    "Candidate",
    "CandidateInfo",
    "as_candidate_model",
    "own_fingerprint",
    "parse_candidates",
    "tag_candidate",
]
