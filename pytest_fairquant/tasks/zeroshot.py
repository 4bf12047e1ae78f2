"""CLIP zero-shot classification, and the FACET recall-disparity protocol built on it (paper 000).

:class:`ZeroShotTask` builds one prompt per (template, class name), embeds them once per model in
``bind``, averages each class's normalised template embeddings into one class embedding (CLIP's
prompt ensembling), and scores each image batch by cosine similarity times the logit scale.
:func:`facet_recall_disparity` reads the predictions as FACET does: per person class, the recall
of one group minus the other's, over classes with enough samples in both groups.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from .clip import (
    ClipAdapter,
    FamilySetting,
    check_family_setting,
    collate_images,
    embed_texts,
    similarity_forward,
    tokenizer_identity,
    unit_rows,
)

if TYPE_CHECKING:
    import torch

    from ..data.split import DemographicSplit
    from ..metrics import RecallDisparity
    from ..predictions import Predictions

#: Named prompt-template sets. ``"openai-imagenet-7"`` is the 7-template ensemble the CLIP authors
#: selected for ImageNet (CLIP repository, notebooks/Prompt_Engineering_for_ImageNet.ipynb).
TEMPLATE_SETS: Mapping[str, tuple[str, ...]] = {
    "simple": ("a photo of a {}.",),
    "person": ("a photo of a {}.", "a photo of a person who is a {}.", "a photo of the {}."),
    "openai-imagenet-7": (
        "itap of a {}.",
        "a bad photo of the {}.",
        "a origami {}.",
        "a photo of the large {}.",
        "a {} in a video game.",
        "art of the {}.",
        "a photo of the small {}.",
    ),
}

MSG_NO_CLASSES = "class_names is empty: a zero-shot task needs at least two class names"
MSG_DUPLICATE_CLASSES = "class_names has duplicates: {dupes}"
MSG_UNKNOWN_TEMPLATES = (
    "unknown template set {name!r}; known sets: {known}, or pass a sequence of templates"
)
MSG_BAD_TEMPLATE = "template {template!r} must contain exactly one '{{}}' where the class name goes"
MSG_LOGIT_SCALE = "logit_scale must be 'model' or a positive float; got {value!r}"
MSG_NO_PRED = "recall disparity needs predicted class ids; these predictions have none (a retrieval or embedding task?)"


def resolve_templates(templates: str | Sequence[str]) -> tuple[str, ...]:
    """A named set from :data:`TEMPLATE_SETS`, or the given templates, each checked for one ``{}``."""
    if isinstance(templates, str):
        if templates not in TEMPLATE_SETS:
            raise InputError(
                MSG_UNKNOWN_TEMPLATES.format(name=templates, known=sorted(TEMPLATE_SETS))
            )
        return TEMPLATE_SETS[templates]
    found = tuple(str(t) for t in templates)
    if not found:
        raise InputError(MSG_UNKNOWN_TEMPLATES.format(name=templates, known=sorted(TEMPLATE_SETS)))
    for template in found:
        if template.count("{}") != 1:
            raise InputError(MSG_BAD_TEMPLATE.format(template=template))
    return found


def settings_digest(settings: Mapping[str, Any]) -> str:
    """A short hash of a task's settings, for fingerprints."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


class ZeroShotTask:
    """Zero-shot classification with a CLIP model (open_clip or Hugging Face ``CLIPModel``).

    ``scores`` are (n, C) logits: ``logit_scale`` × cosine(image, class embedding) with
    ``normalize`` (the model's own learned scale by default), or raw dot products without it.
    ``finalize`` gives the argmax class and the softmax probabilities. Prompts name each class
    by ``prompt_names[c]`` when given, else by ``c`` with underscores as spaces. Items reaching
    ``collate`` must be (3, H, W) tensors unless ``preprocess`` (applied per item) is given.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        templates: str | Sequence[str] = ("a photo of a {}.",),
        *,
        tokenizer: Any = None,
        normalize: bool = True,
        logit_scale: float | Literal["model"] = "model",
        prompt_names: Mapping[str, str] | None = None,
        family: FamilySetting = "auto",
        preprocess: Callable[[Any], Any] | None = None,
        text_batch_size: int = 256,
    ) -> None:
        names = tuple(str(c) for c in class_names)
        if len(names) < 2:
            raise InputError(MSG_NO_CLASSES)
        dupes = sorted({c for c in names if names.count(c) > 1})
        if dupes:
            raise InputError(MSG_DUPLICATE_CLASSES.format(dupes=dupes))
        if logit_scale != "model" and (
            isinstance(logit_scale, bool)
            or not isinstance(logit_scale, (int, float))
            or not logit_scale > 0
        ):
            raise InputError(MSG_LOGIT_SCALE.format(value=logit_scale))
        self.class_names = names
        self.templates = resolve_templates(templates)
        # Data set labels are identifiers ("basketball_player"); prompts read better as words.
        self.prompt_names = tuple((prompt_names or {}).get(c, c.replace("_", " ")) for c in names)
        self.tokenizer = tokenizer
        self.normalize = normalize
        self.logit_scale = logit_scale
        self.family = check_family_setting(family)
        self.preprocess = preprocess
        self.text_batch_size = text_batch_size
        self.kind: Literal["binary", "multiclass"] = "binary" if len(names) == 2 else "multiclass"

    @property
    def prompts(self) -> tuple[str, ...]:
        """Every prompt, class-major: all templates of class 0, then class 1, ..."""
        return tuple(t.format(c) for c in self.prompt_names for t in self.templates)

    def fingerprint(self) -> str:
        settings = {
            "classes": self.class_names,
            "prompt_names": self.prompt_names,
            "templates": self.templates,
            "normalize": self.normalize,
            "logit_scale": self.logit_scale,
            "family": self.family,
            "tokenizer": tokenizer_identity(self.tokenizer),
            "preprocess": repr(self.preprocess) if self.preprocess is not None else None,
        }
        return f"clip-zeroshot-v1:{settings_digest(settings)}"

    def collate(self, items: Any) -> torch.Tensor:
        return collate_images(items, self.preprocess)

    def class_embeddings(self, adapter: ClipAdapter, device: torch.device) -> torch.Tensor:
        """(C, D) class embeddings: per class the mean of its template embeddings (unit-normed first)."""
        prompts = embed_texts(adapter, self.prompts, device, batch_size=self.text_batch_size)
        if self.normalize:
            prompts = unit_rows(prompts)
        per_class = prompts.reshape(len(self.class_names), len(self.templates), -1).mean(dim=1)
        return unit_rows(per_class) if self.normalize else per_class

    def bind(self, model: Any, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
        adapter = ClipAdapter.wrap(model, tokenizer=self.tokenizer, family=self.family)
        scale = adapter.logit_scale() if self.logit_scale == "model" else float(self.logit_scale)
        return similarity_forward(
            adapter, self.class_embeddings(adapter, device), normalize=self.normalize, scale=scale
        )

    def finalize(
        self, scores: NDArray[np.float32]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        logits = np.asarray(scores, dtype=np.float64)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
        return logits.argmax(axis=1).astype(np.int64), probs


# ---------------------------------------------------------------------------- FACET protocol


@dataclass(frozen=True)
class GroupComparison:
    """Two values of one attribute compared by recall (FACET: ``group_a`` minus ``group_b``)."""

    attribute: str
    group_a: str
    group_b: str
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.attribute} ({self.group_a} vs {self.group_b})"


#: Paper 000's FACET comparisons (after Slyman et al. 2024) over :func:`read_facet`'s attributes:
#: masculine vs feminine presentation, lighter (MST 1-4) vs darker (6-10) skin, and middle vs
#: younger and middle vs older age presentation.
PAPER000_FACET_COMPARISONS: tuple[GroupComparison, ...] = (
    GroupComparison("gender_presentation", "masc", "fem", "Gender (MF)"),
    GroupComparison("skin_tone", "lighter", "darker", "Skin Tone (LD)"),
    GroupComparison("age_presentation", "middle", "young", "Age (MY)"),
    GroupComparison("age_presentation", "middle", "older", "Age (MO)"),
)


@dataclass(frozen=True)
class DisparityResult:
    """One comparison's :class:`~pytest_fairquant.metrics.RecallDisparity`, with class names."""

    comparison: GroupComparison
    disparity: RecallDisparity
    class_names: tuple[str, ...] | None = None

    @property
    def min_disparity(self) -> float:
        return self.disparity.min

    @property
    def max_disparity(self) -> float:
        return self.disparity.max

    @property
    def min_class(self) -> str | None:
        return self._name(self.disparity.min_class)

    @property
    def max_class(self) -> str | None:
        return self._name(self.disparity.max_class)

    @property
    def per_class(self) -> dict[str, float]:
        return {str(self._name(c)): v for c, v in self.disparity.per_class.items()}

    def _name(self, cls: int | None) -> str | None:
        if cls is None:
            return None
        return self.class_names[cls] if self.class_names is not None else str(cls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "comparison": self.comparison.name,
            "attribute": self.comparison.attribute,
            **self.disparity.to_dict(),
            "min_class": self.min_class,
            "max_class": self.max_class,
            "per_class": self.per_class,
            "excluded_classes": [self._name(c) for c in self.disparity.excluded_classes],
        }


def recall_disparities(
    predictions: Predictions | Any,
    split: DemographicSplit,
    comparisons: Sequence[GroupComparison] = PAPER000_FACET_COMPARISONS,
    *,
    min_group_count: int = 25,
) -> list[DisparityResult]:
    """FACET recall disparity for each comparison, from metrics' :func:`recall_disparity`.

    ``predictions`` are the zero-shot predictions on ``split`` (a :class:`Predictions` or the
    predicted class ids); class names come from the split's ``class_names``.
    """
    from ..metrics import recall_disparity

    pred = getattr(predictions, "pred", predictions)
    if pred is None:
        raise InputError(MSG_NO_PRED)
    n_classes = len(split.class_names) if split.class_names is not None else None
    return [
        DisparityResult(
            comp,
            recall_disparity(
                split.labels,
                pred,
                sensitive_features=split.sensitive_features(comp.attribute),
                groups=(comp.group_a, comp.group_b),
                min_group_count=min_group_count,
                n_classes=n_classes,
            ),
            split.class_names,
        )
        for comp in comparisons
    ]
