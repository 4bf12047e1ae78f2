"""CLIP tasks and predictions: the plugin compresses, these fixtures run zero-shot and retrieval.

The plugin's ``quantized_model`` fixture gives each variant; evaluating a CLIP model needs a task
(class prompts for zero-shot, captions for retrieval), so ``predict_with`` runs the library's
``predict`` with one, and the gates read the resulting Predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import clip_setup
import pytest

from pytest_fairquant.evaluate import predict
from pytest_fairquant.tasks.retrieval import RetrievalTask
from pytest_fairquant.tasks.zeroshot import ZeroShotTask


@pytest.fixture(scope="session")
def fairface_split() -> Any:
    return clip_setup.load_fairface()


@pytest.fixture(scope="session")
def zeroshot(demographic_split: Any) -> ZeroShotTask:
    return ZeroShotTask(
        demographic_split.class_names, ("a photo of a {}.",), tokenizer=clip_setup.tokenizer()
    )


@pytest.fixture(scope="session")
def retrieval() -> RetrievalTask:
    return RetrievalTask(clip_setup.captions(), tokenizer=clip_setup.tokenizer())


@pytest.fixture(scope="session")
def predict_with(fairquant_settings: Any) -> Callable[..., Any]:
    """``predict_with(model, split, task)`` with the session's device and batch size."""

    def run(model: Any, split: Any, task: Any) -> Any:
        return predict(
            model,
            split,
            task=task,
            device=fairquant_settings.device,
            batch_size=fairquant_settings.batch_size,
        )

    return run
