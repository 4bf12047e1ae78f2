"""Recovery fine-tuning under pytest (issue 13): ``fairquant_finetune`` trains every variant on
the part of the split set aside for it, and ``gmp-S`` prunes over those steps."""

from __future__ import annotations

import pytest

from pytest_fairquant.compression import MSG_NEEDS_FINETUNE

TRAIN = """
import numpy as np
import torch

SEEN = {}


def train(model, split, steps):
    SEEN.update(n=len(split), steps=steps)
    x = split.input_batch(np.arange(len(split)))
    y = torch.tensor(np.asarray(split.labels))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"loss_after": loss.item()}
"""

TESTS = """
import fq_train


def test_gradual(pruned_model, demographic_split):
    info = pruned_model.fairquant_info
    assert abs(info.sparsity - 0.5) < 0.01
    assert info.details["finetune"]["optimizer_steps"] == 20
    assert fq_train.SEEN == {"n": 100, "steps": 20}
    assert len(demographic_split) == 500
"""


def test_every_variant_is_fine_tuned_on_the_set_aside_part(fq: pytest.Pytester) -> None:
    fq.makepyfile(fq_train=TRAIN, test_gradual=TESTS)
    result = fq.runpytest(
        "--fairquant-pruning=gmp-0.5",
        "--fairquant-finetune=fq_train:train",
        "--fairquant-finetune-steps=20",
        "--fairquant-calibration-size=100",
    )
    result.assert_outcomes(passed=1)


def test_gmp_without_fine_tuning_is_its_tests_error(fq: pytest.Pytester) -> None:
    fq.makepyfile(test_gradual="def test_gradual(pruned_model): pass")
    result = fq.runpytest("--fairquant-pruning=gmp-0.5")
    result.assert_outcomes(errors=1)
    assert MSG_NEEDS_FINETUNE.format(method_id="gmp-0.5") in result.stdout.str().replace("\n", "")
