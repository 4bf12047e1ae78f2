"""Variants that run in a CPU runtime of their own: an exported PT2E graph, an ONNX Runtime session.

``predict`` treats a variant as a torch module: it may move it with ``.to(device)``, switch it
with ``.eval()`` and feed batches on the evaluation device. :class:`CpuRuntimeModel` keeps the
runtime on the CPU whatever ``.to()`` asks (the quantized kernels these variants were made for
are x86 CPU kernels), brings floating inputs to the CPU and returns the outputs on the device
the inputs came from, so the same evaluation code serves them and the dense model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ._ops import tree_map_tensors

MSG_SESSION_BYTES = (
    "the onnxruntime.InferenceSession keeps neither its model bytes nor its model path, so it "
    "cannot be fingerprinted or copied; build the session from a file path or from bytes"
)


def _input_device(args: Any, kwargs: Any) -> torch.device:
    found: list[torch.device] = []

    def note(t: torch.Tensor) -> torch.Tensor:
        found.append(t.device)
        return t

    tree_map_tensors(list(args), note)
    tree_map_tensors(dict(kwargs), note)
    return found[0] if found else torch.device("cpu")


class CpuRuntimeModel(nn.Module):
    """A model whose computation runs on the CPU in a runtime of its own (see the module
    docstring); subclasses implement :meth:`run` on CPU tensors."""

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        device = _input_device(args, kwargs)

        def to_cpu(t: torch.Tensor) -> torch.Tensor:
            return t.cpu()

        out = self.run(
            *tree_map_tensors(list(args), to_cpu), **tree_map_tensors(dict(kwargs), to_cpu)
        )
        if device.type == "cpu":
            return out
        return tree_map_tensors(out, lambda t: t.to(device))

    def to(self, *args: Any, **kwargs: Any) -> CpuRuntimeModel:
        """Stays on the CPU: the runtime's kernels are CPU kernels (see the module docstring)."""
        return self

    def cuda(self, device: Any = None) -> CpuRuntimeModel:
        return self

    def train(self, mode: bool = True) -> CpuRuntimeModel:
        # An exported graph refuses train()/eval() (torch.export): the runtime has no modes.
        self.training = mode
        return self


class ExportedInt8Model(CpuRuntimeModel):
    """A PT2E-converted graph (``static-int8``), run on the CPU."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.graph_module = graph

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return self.graph_module(*args, **kwargs)


class OnnxRuntimeModel(CpuRuntimeModel):
    """An ONNX model run by an onnxruntime ``InferenceSession`` on the CPUExecutionProvider.

    Positional tensor inputs feed the graph's inputs in order; one output comes back as a
    tensor, several as a tuple. The session is built on first use and not copied: a deep copy
    or a pickle carries the model bytes and builds its own. ``exported_parameters`` names the
    dense model's parameters the graph was exported from and reads (None: not known, as for a
    user's own session).
    """

    def __init__(
        self,
        model_bytes: bytes,
        provider: str = "CPUExecutionProvider",
        exported_parameters: frozenset[str] | None = None,
    ) -> None:
        super().__init__()
        self.model_bytes = model_bytes
        self.provider = provider
        self.exported_parameters = exported_parameters
        self._session: Any = None

    @classmethod
    def from_session(cls, session: Any) -> OnnxRuntimeModel:
        """A model running the user's own ``session`` (their providers and options), carrying
        the bytes it was built from so a copy can build its own. onnxruntime has no public
        accessor for them: the session keeps the path or bytes it was given as
        ``_model_path``/``_model_bytes``."""
        data = getattr(session, "_model_bytes", None)
        path = getattr(session, "_model_path", None)
        if data is None and path is not None:
            data = Path(path).read_bytes()
        if not isinstance(data, bytes):
            raise InputError(MSG_SESSION_BYTES)
        model = cls(data, session.get_providers()[0])
        model._session = session
        return model

    def session(self) -> Any:
        if self._session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # errors only: its warnings are not the user's
            self._session = onnxruntime.InferenceSession(
                self.model_bytes, options, providers=[self.provider]
            )
        return self._session

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_session"] = None
        return state

    def run(self, *args: Any, **kwargs: Any) -> Any:
        session = self.session()
        names = [i.name for i in session.get_inputs()]
        feeds = {name: t.detach().numpy() for name, t in zip(names, args, strict=False)}
        feeds.update({k: v.detach().numpy() for k, v in kwargs.items()})
        outputs = [torch.from_numpy(o) for o in session.run(None, feeds)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
