"""Encoders whose outputs are embeddings: sentence encoders (MiniLM) and image encoders (CLIP).

``scores`` are (n, D) float32 embeddings; there are no labels (``finalize`` gives ``(None,
None)``), so variants are compared by embedding similarity or by downstream tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from .base import TaskKind
from .clip import tokenizer_identity
from .zeroshot import settings_digest

if TYPE_CHECKING:
    import torch

Pooling = Literal["mean", "cls", "pooler"]

MSG_POOLING = "pooling must be one of 'mean', 'cls', 'pooler'; got {value!r}"
MSG_NO_TEXT_TOKENIZER = (
    "the split's inputs are texts but EmbeddingTask has no tokenizer; pass "
    "EmbeddingTask(tokenizer=AutoTokenizer.from_pretrained(...))"
)
MSG_NO_POOLER = "pooling='pooler' needs an output with pooler_output; {kind} has none: use pooling='mean' or 'cls'"
MSG_EMBEDDING_OUTPUT = (
    "cannot read embeddings from a {kind} output; pass EmbeddingTask(encode=...) returning a "
    "tensor or an output with last_hidden_state/pooler_output"
)


def _pool(output: Any, mask: torch.Tensor | None, pooling: Pooling) -> torch.Tensor:
    import torch

    if pooling == "pooler" or (not isinstance(output, torch.Tensor) and _hidden(output) is None):
        pooled = getattr(output, "pooler_output", None)
        if not isinstance(pooled, torch.Tensor):
            raise InputError(MSG_NO_POOLER.format(kind=type(output).__name__))
        return pooled
    hidden = output if isinstance(output, torch.Tensor) else _hidden(output)
    assert hidden is not None
    if hidden.ndim == 2:  # already one vector per sample
        return hidden
    if pooling == "cls":
        return hidden[:, 0]
    if mask is None:
        return hidden.mean(dim=1)
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _hidden(output: Any) -> torch.Tensor | None:
    import torch

    hidden = getattr(output, "last_hidden_state", None)
    if isinstance(hidden, torch.Tensor):
        return hidden
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


class EmbeddingTask:
    """(n, D) embeddings from a text or image encoder.

    Texts (a split whose inputs are strings) go through ``tokenizer`` (padding, truncation to
    ``max_length``); tensors go to the model as they are. ``encode`` names the model method to
    call (``"encode_image"`` for open_clip, ``"get_image_features"`` for a HF ``CLIPModel``) or is
    a callable ``encode(model, batch)``; the default calls the model. Token outputs are pooled
    with ``pooling``: ``mean`` over the attention mask (sentence-transformers), ``cls`` (first
    token) or ``pooler`` (``pooler_output``). Vectors are L2-normalised with ``normalize``.
    """

    kind: TaskKind = "embedding"

    def __init__(
        self,
        tokenizer: Any = None,
        pooling: Pooling = "mean",
        normalize: bool = True,
        max_length: int | None = 256,
        encode: str | Callable[[Any, Any], Any] | None = None,
    ) -> None:
        if pooling not in ("mean", "cls", "pooler"):
            raise InputError(MSG_POOLING.format(value=pooling))
        self.tokenizer = tokenizer
        self.pooling: Pooling = pooling
        self.normalize = normalize
        self.max_length = max_length
        self.encode = encode

    def fingerprint(self) -> str:
        encode = self.encode
        named = (
            encode
            if isinstance(encode, str) or encode is None
            else getattr(encode, "__qualname__", type(encode).__qualname__)
        )
        settings = {
            "tokenizer": tokenizer_identity(self.tokenizer) if self.tokenizer is not None else None,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_length": self.max_length,
            "encode": named,
        }
        return f"embedding-v1:{settings_digest(settings)}"

    def collate(self, items: Any) -> Any:
        import torch

        if isinstance(items, torch.Tensor):
            return items
        if isinstance(items, np.ndarray) and items.dtype != object:
            return torch.from_numpy(np.ascontiguousarray(items))
        items = list(items)
        if items and all(isinstance(x, str) for x in items):
            if self.tokenizer is None:
                raise InputError(MSG_NO_TEXT_TOKENIZER)
            return self.tokenizer(
                items,
                padding=True,
                truncation=self.max_length is not None,
                max_length=self.max_length,
                return_tensors="pt",
            )
        if items and all(isinstance(x, torch.Tensor) for x in items):
            return torch.stack(items)
        return items

    def bind(self, model: Any, device: torch.device) -> Callable[[Any], torch.Tensor]:
        import torch

        encode = self.encode
        call: Callable[..., Any] = getattr(model, encode) if isinstance(encode, str) else model

        def forward(batch: Any) -> torch.Tensor:
            mask = None
            if callable(encode) and not isinstance(encode, str):
                output = encode(model, batch)
            elif isinstance(batch, dict) or hasattr(batch, "keys"):
                mask = batch.get("attention_mask")
                output = call(**batch)
            else:
                output = call(batch)
            if (
                not isinstance(output, torch.Tensor)
                and not hasattr(output, "pooler_output")
                and _hidden(output) is None
            ):
                raise InputError(MSG_EMBEDDING_OUTPUT.format(kind=type(output).__name__))
            vectors = _pool(output, mask, self.pooling).float()
            return torch.nn.functional.normalize(vectors, dim=-1) if self.normalize else vectors

        return forward

    def finalize(self, scores: NDArray[np.float32]) -> tuple[None, None]:
        return None, None
