"""CLIP tasks: the plugin compresses, the gates evaluate each model with the task they are given.

The plugin's ``quantized_model`` fixture gives each variant; evaluating a CLIP model needs a task
(class prompts for zero-shot, captions for retrieval). The gates take it as ``task=`` and run
each model once per task through the session's prediction cache.
"""

from __future__ import annotations

from typing import Any

import clip_setup
import pytest

from pytest_fairquant.tasks.retrieval import RetrievalTask
from pytest_fairquant.tasks.zeroshot import ZeroShotTask


@pytest.fixture(scope="session")
def fairface_split() -> Any:
    return clip_setup.load_fairface()


@pytest.fixture(scope="session")
def zeroshot(fairquant_data: Any) -> ZeroShotTask:
    # fairquant_data, not the test-scoped demographic_split: a session fixture may only use
    # session fixtures; the class names are the same.
    return ZeroShotTask(
        fairquant_data.class_names, ("a photo of a {}.",), tokenizer=clip_setup.tokenizer()
    )


@pytest.fixture(scope="session")
def retrieval() -> RetrievalTask:
    return RetrievalTask(clip_setup.captions(), tokenizer=clip_setup.tokenizer())
