"""One face for the CLIP implementations the tasks read: open_clip and Hugging Face ``CLIPModel``.

:class:`ClipAdapter` detects the family of a model (including its compressed variants, which keep
their class) and exposes ``encode_image(pixels)`` and ``encode_text(texts)`` uniformly, returning
float32 embeddings whatever dtype a quantized backend computes in. Tokenizers come in two shapes:
open_clip's (``texts -> LongTensor``) and Hugging Face's (``tokenizer(text=..., ...) -> mapping``,
also reached through a processor's ``.tokenizer``); both are accepted for either family.

Only :mod:`pytest_fairquant.tasks.zeroshot` and :mod:`pytest_fairquant.tasks.retrieval` import this
module, and it imports torch, open_clip and transformers inside functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import InputError

if TYPE_CHECKING:
    import torch

ModelFamily = Literal["open_clip", "hf"]
FamilySetting = Literal["auto", "open_clip", "hf"]

MSG_UNKNOWN_FAMILY = (
    "cannot tell how to embed with a {kind}: a CLIP model needs encode_image/encode_text "
    "(open_clip) or get_image_features/get_text_features (Hugging Face CLIPModel)"
)
MSG_FAMILY_SETTING = "family must be one of 'auto', 'open_clip', 'hf'; got {value!r}"
MSG_NO_TOKENIZER = (
    "no tokenizer for this {family} model: pass tokenizer= (open_clip.get_tokenizer(name), or a "
    "Hugging Face CLIPTokenizer/AutoProcessor){detail}"
)
MSG_NO_LOGIT_SCALE = (
    "the {kind} has no logit_scale parameter; pass logit_scale=<float> (CLIP uses 100.0)"
)
MSG_EMPTY_TEXTS = "{what} is empty: pass at least one text"

_FAMILIES: tuple[str, ...] = ("auto", "open_clip", "hf")


def detect_family(model: Any) -> ModelFamily:
    """``"hf"`` for a Hugging Face CLIP-style model, ``"open_clip"`` for the encode_* API."""
    if callable(getattr(model, "get_image_features", None)) and callable(
        getattr(model, "get_text_features", None)
    ):
        return "hf"
    if callable(getattr(model, "encode_image", None)) and callable(
        getattr(model, "encode_text", None)
    ):
        return "open_clip"
    raise InputError(MSG_UNKNOWN_FAMILY.format(kind=type(model).__name__))


def check_family_setting(family: str) -> FamilySetting:
    if family not in _FAMILIES:
        raise InputError(MSG_FAMILY_SETTING.format(value=family))
    return family  # type: ignore[return-value]


def tokenizer_identity(tokenizer: Any) -> str:
    """What in a tokenizer changes the token ids: its class, vocabulary source and context length."""
    if tokenizer is None:
        return "default"
    inner = _unwrap_processor(tokenizer)
    cls = type(inner)
    source = getattr(inner, "name_or_path", None) or getattr(inner, "__name__", "")
    context = getattr(inner, "context_length", None) or getattr(inner, "model_max_length", None)
    return f"{cls.__module__}.{cls.__qualname__}:{source}:{context}"


def _unwrap_processor(tokenizer: Any) -> Any:
    # A Hugging Face processor (CLIPProcessor / AutoProcessor) takes images first; its text half
    # is the tokenizer it carries.
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None and hasattr(tokenizer, "image_processor"):
        return inner
    return tokenizer


def _default_tokenizer(model: Any, family: ModelFamily) -> Any:
    if family == "open_clip":
        try:
            import open_clip
        except ImportError as exc:  # pragma: no cover - open_clip is an optional extra
            raise InputError(MSG_NO_TOKENIZER.format(family=family, detail=f" ({exc})")) from exc
        if isinstance(model, open_clip.CLIP):
            # Every open_clip.CLIP text tower is trained with the OpenAI BPE tokenizer; only the
            # context length varies between configs.
            return open_clip.tokenizer.SimpleTokenizer(
                context_length=int(getattr(model, "context_length", 77))
            )
        raise InputError(
            MSG_NO_TOKENIZER.format(family=family, detail=f" ({type(model).__name__})")
        )
    source = getattr(model, "name_or_path", "") or getattr(
        getattr(model, "config", None), "_name_or_path", ""
    )
    if not source:
        raise InputError(
            MSG_NO_TOKENIZER.format(
                family=family, detail=" (the model does not say where it was loaded from)"
            )
        )
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise InputError(
            MSG_NO_TOKENIZER.format(family=family, detail=f" (none found at {source!r}: {exc})")
        ) from exc


def _features(output: Any) -> torch.Tensor:
    """The projected embeddings from a Hugging Face ``get_*_features`` call.

    transformers 4.x returns the tensor; 5.x returns a ``BaseModelOutputWithPooling`` whose
    ``pooler_output`` holds the projection (or a tuple with it second when return_dict is off).
    """
    import torch

    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    if isinstance(output, tuple) and len(output) > 1 and isinstance(output[1], torch.Tensor):
        return output[1]
    raise InputError(f"unexpected output of get_*_features: {type(output).__name__}")


@dataclass(frozen=True)
class ClipAdapter:
    """A CLIP model of either family behind ``encode_image`` / ``encode_text``."""

    model: Any
    family: ModelFamily
    tokenizer: Any

    @classmethod
    def wrap(
        cls, model: Any, *, tokenizer: Any = None, family: FamilySetting = "auto"
    ) -> ClipAdapter:
        family = check_family_setting(family)
        found = detect_family(model) if family == "auto" else family
        tok = (
            _unwrap_processor(tokenizer)
            if tokenizer is not None
            else _default_tokenizer(model, found)
        )
        if found == "open_clip":
            _record_int8_original_dtype(model)
        return cls(model, found, tok)

    def tokenize(
        self, texts: Sequence[str], device: torch.device
    ) -> torch.Tensor | Mapping[str, torch.Tensor]:
        import torch

        if hasattr(self.tokenizer, "model_input_names"):  # a Hugging Face tokenizer
            encoded = self.tokenizer(
                text=list(texts), padding=True, truncation=True, return_tensors="pt"
            )
            return {
                k: v.to(device) for k, v in encoded.items() if k in ("input_ids", "attention_mask")
            }
        tokens = self.tokenizer(list(texts))
        if isinstance(tokens, Mapping):
            return {
                k: v.to(device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")
            }
        return torch.as_tensor(tokens).to(device)

    def encode_text(self, texts: Sequence[str], device: torch.device) -> torch.Tensor:
        """Float32 text embeddings (not normalised), one row per text."""
        if not texts:
            raise InputError(MSG_EMPTY_TEXTS.format(what="texts"))
        tokens = self.tokenize(texts, device)
        if self.family == "hf":
            inputs = tokens if isinstance(tokens, Mapping) else {"input_ids": tokens}
            return _features(self.model.get_text_features(**inputs)).float()
        ids = tokens["input_ids"] if isinstance(tokens, Mapping) else tokens
        return _features(self.model.encode_text(ids)).float()

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """Float32 image embeddings (not normalised), one row per image."""
        if self.family == "hf":
            dtype = _float_dtype(self.model)
            return _features(self.model.get_image_features(pixel_values=pixels.to(dtype))).float()
        return _features(self.model.encode_image(pixels)).float()

    def logit_scale(self) -> float:
        """The model's learned temperature, exp(logit_scale) (100 for the released CLIP weights)."""
        param = getattr(self.model, "logit_scale", None)
        if param is None:
            raise InputError(MSG_NO_LOGIT_SCALE.format(kind=type(self.model).__name__))
        return float(param.detach().float().exp().item())


def _record_int8_original_dtype(model: Any) -> None:
    """Tell open_clip the float dtype behind quantized MLP layers, as its own int8 converter does.

    open_clip casts the text tower's input to ``resblocks[0].mlp.c_fc.weight.dtype`` unless the
    layer carries ``int8_original_dtype`` (set by ``open_clip.utils.replace_linear``). A layer
    swapped for bitsandbytes by another route has an int8/uint8 weight there (the cast turns the
    token embeddings into integers), and torch's dynamic int8 Linear has no weight tensor at all;
    the block's LayerNorm holds the dtype it computes in.
    """
    import torch

    for block in model.modules():
        c_fc = getattr(getattr(block, "mlp", None), "c_fc", None)
        norm = getattr(getattr(block, "ln_1", None), "weight", None)
        if c_fc is None or norm is None or hasattr(c_fc, "int8_original_dtype"):
            continue
        # torch's dynamic quantized Linear exposes weight() as a method, bitsandbytes an int tensor.
        weight = getattr(c_fc, "weight", None)
        if not (isinstance(weight, torch.Tensor) and weight.dtype.is_floating_point):
            c_fc.int8_original_dtype = norm.dtype


def _float_dtype(model: Any) -> torch.dtype:
    """The dtype the model's float weights compute in (fp16 for a model loaded in half precision)."""
    import torch

    dtype = getattr(model, "dtype", None)
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    return torch.float32


@dataclass(frozen=True)
class HFImageTransform:
    """A Hugging Face image processor as a per-item transform: one image -> a (3, H, W) tensor.

    A class rather than a closure so that it pickles (xdist workers) and names its settings in
    ``fingerprint`` (the prediction cache).
    """

    processor: Any

    def __call__(self, image: Any) -> Any:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    @property
    def fingerprint(self) -> str:
        return f"hf-image-processor:{type(self.processor).__qualname__}:{self.processor.to_json_string()}"


def image_transform(preprocess: Any) -> Callable[[Any], Any]:
    """A per-item transform (for ``DemographicSplit(transform=...)``) from a CLIP preprocessor.

    Accepts open_clip's torchvision ``preprocess`` (returned as is) or a Hugging Face image
    processor / ``AutoProcessor`` (wrapped in :class:`HFImageTransform`).
    """
    processor = getattr(preprocess, "image_processor", None) or (
        preprocess if hasattr(preprocess, "model_input_names") else None
    )
    if processor is None:
        return preprocess  # type: ignore[no-any-return]
    return HFImageTransform(processor)


MSG_NOT_IMAGES = (
    "a CLIP task needs image tensors of shape (3, H, W) per item; got {kind}: set the split's "
    "transform (e.g. open_clip's preprocess) or pass preprocess= to the task"
)


def collate_images(items: Any, preprocess: Callable[[Any], Any] | None) -> torch.Tensor:
    """One (B, 3, H, W) float batch from a tensor slice or a list of items (preprocessed here when asked)."""
    import torch

    if isinstance(items, torch.Tensor) and preprocess is None:
        return items
    batch = [preprocess(item) if preprocess is not None else item for item in items]
    if not all(isinstance(x, torch.Tensor) and x.ndim == 3 for x in batch):
        bad = next(x for x in batch if not (isinstance(x, torch.Tensor) and x.ndim == 3))
        raise InputError(MSG_NOT_IMAGES.format(kind=type(bad).__name__))
    return torch.stack(batch)


def embed_texts(
    adapter: ClipAdapter, texts: Sequence[str], device: torch.device, *, batch_size: int
) -> torch.Tensor:
    """Float32 embeddings of ``texts`` in batches of ``batch_size``, without gradients."""
    import torch

    with torch.no_grad():
        parts = [
            adapter.encode_text(texts[i : i + batch_size], device)
            for i in range(0, len(texts), batch_size)
        ]
    return torch.cat(parts)


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    norms: torch.Tensor = x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return x / norms


def similarity_forward(
    adapter: ClipAdapter, text_embeddings: torch.Tensor, *, normalize: bool, scale: float
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``forward(pixels) -> scale * <image, text>`` (cosine when ``normalize``), shape (B, T)."""
    import torch

    texts_t = text_embeddings.t().contiguous()

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            images = adapter.encode_image(pixels)
            if normalize:
                images = unit_rows(images)
            return scale * (images @ texts_t.to(images.device))

    return forward
