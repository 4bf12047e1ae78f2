"""EmbeddingTask: pooling over the attention mask, CLS, pooler output, normalisation, texts."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit
from pytest_fairquant.errors import InputError
from pytest_fairquant.evaluate import MSG_TASK, predict
from pytest_fairquant.tasks.embedding import (
    MSG_NO_POOLER,
    MSG_NO_TEXT_TOKENIZER,
    EmbeddingTask,
)

sys.path.insert(0, str(Path(__file__).parent))
from models import random_split, tiny_mlp


class WordTokenizer:
    """Whitespace tokens → ids, padded with 0, like a Hugging Face tokenizer's call."""

    name_or_path = "word-tokenizer"
    model_max_length = 8

    def __call__(self, texts: list[str], **kwargs: Any) -> dict[str, torch.Tensor]:
        ids = [[len(w) for w in t.split()][: kwargs.get("max_length") or 99] for t in texts]
        width = max(len(i) for i in ids)
        padded = torch.tensor([i + [0] * (width - len(i)) for i in ids])
        return {"input_ids": padded, "attention_mask": (padded > 0).long()}


class TokenEncoder(nn.Module):
    """(B, T) ids → last_hidden_state (B, T, 2) = [id, 1] and pooler_output = [-1, -1]."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        hidden = torch.stack([input_ids.float(), torch.ones_like(input_ids).float()], dim=-1)
        pooled = -torch.ones(len(input_ids), 2)
        return SimpleNamespace(last_hidden_state=hidden, pooler_output=pooled)


def _texts() -> DemographicSplit:
    texts = ["a bb", "ccc", "dddd e ff"]
    return DemographicSplit([0, 1, 0], {"g": ["x", "y", "x"]}, inputs=texts, name="texts")


def test_mean_pooling_counts_only_real_tokens() -> None:
    task = EmbeddingTask(tokenizer=WordTokenizer(), normalize=False)
    p = predict(TokenEncoder(), _texts(), task=task)
    # Word lengths averaged over each text's own words (padding excluded).
    np.testing.assert_allclose(p.scores, [[1.5, 1.0], [3.0, 1.0], [7 / 3, 1.0]], rtol=1e-6)
    assert p.kind == "embedding" and p.pred is None and p.probs is None


def test_cls_pooler_and_normalisation() -> None:
    cls = predict(TokenEncoder(), _texts(), task=EmbeddingTask(WordTokenizer(), "cls", False))
    np.testing.assert_allclose(cls.scores[:, 0], [1, 3, 4])
    pooler = predict(TokenEncoder(), _texts(), task=EmbeddingTask(WordTokenizer(), "pooler"))
    np.testing.assert_allclose(pooler.scores, np.full((3, 2), -(0.5**0.5)), rtol=1e-6)
    unit = predict(TokenEncoder(), _texts(), task=EmbeddingTask(WordTokenizer()))
    np.testing.assert_allclose(np.linalg.norm(unit.scores, axis=1), 1.0, rtol=1e-6)


def test_max_length_truncates() -> None:
    task = EmbeddingTask(WordTokenizer(), normalize=False, max_length=1)
    np.testing.assert_allclose(predict(TokenEncoder(), _texts(), task=task).scores[:, 0], [1, 3, 4])


def test_encode_method_and_callable_on_tensors() -> None:
    model = tiny_mlp(n_out=5)
    model.encode = lambda x: model(x) * 2  # type: ignore[assignment]
    split = random_split(torch.randn(10, 4, generator=torch.Generator().manual_seed(0)))
    by_name = predict(model, split, task=EmbeddingTask(encode="encode", normalize=False))
    by_call = predict(
        model, split, task=EmbeddingTask(encode=lambda m, x: m(x) * 2, normalize=False)
    )
    with torch.no_grad():
        want = (model(split.inputs) * 2).numpy()
    np.testing.assert_allclose(by_name.scores, want, rtol=1e-6)
    np.testing.assert_allclose(by_call.scores, want, rtol=1e-6)


def test_fingerprint_changes_with_every_setting() -> None:
    tok = WordTokenizer()
    prints = {
        EmbeddingTask().fingerprint(),
        EmbeddingTask(tok).fingerprint(),
        EmbeddingTask(tok, "cls").fingerprint(),
        EmbeddingTask(tok, normalize=False).fingerprint(),
        EmbeddingTask(tok, max_length=16).fingerprint(),
        EmbeddingTask(encode="encode_image").fingerprint(),
    }
    assert len(prints) == 6
    assert EmbeddingTask(tok).fingerprint() == EmbeddingTask(WordTokenizer()).fingerprint()


def test_texts_without_a_tokenizer() -> None:
    with pytest.raises(InputError) as err:
        predict(TokenEncoder(), _texts(), task=EmbeddingTask())
    assert str(err.value) == MSG_NO_TEXT_TOKENIZER


def test_pooler_missing() -> None:
    class NoPooler(nn.Module):
        def forward(self, **batch: torch.Tensor) -> Any:
            return SimpleNamespace(last_hidden_state=torch.ones(len(batch["input_ids"]), 2, 3))

    with pytest.raises(InputError) as err:
        predict(NoPooler(), _texts(), task=EmbeddingTask(WordTokenizer(), "pooler"))
    assert str(err.value) == MSG_NO_POOLER.format(kind="SimpleNamespace")


def test_bad_pooling_and_not_a_task() -> None:
    with pytest.raises(
        InputError, match="pooling must be one of 'mean', 'cls', 'pooler'; got 'max'"
    ):
        EmbeddingTask(pooling="max")  # type: ignore[arg-type]
    with pytest.raises(InputError) as err:
        predict(tiny_mlp(), random_split(torch.zeros(3, 4)), task=object())  # type: ignore[arg-type]
    assert str(err.value) == MSG_TASK.format(kind="object")
