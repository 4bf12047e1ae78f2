"""predict(): alignment, tasks, state restored, noise floor, progress, and every bad input."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import pytest_fairquant.evaluate as evaluate
from pytest_fairquant import DemographicSplit
from pytest_fairquant.compression import compress
from pytest_fairquant.errors import EvaluationError, InputError
from pytest_fairquant.evaluate import (
    MSG_BATCH_SIZE,
    MSG_DEVICE_MISMATCH,
    MSG_META,
    MSG_NO_INPUTS,
    MSG_OOM,
    MSG_PINNED,
    NonFiniteOutputs,
    predict,
    to_device,
)
from pytest_fairquant.tasks.classification import ClassificationTask

sys.path.insert(0, str(Path(__file__).parent))
from models import random_split, tiny_mlp


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _split(n: int = 200, n_classes: int = 3, seed: int = 0) -> DemographicSplit:
    x = torch.from_numpy(np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32))
    return random_split(x, n_classes=n_classes, seed=seed)


def test_scores_are_the_forward_pass_in_split_order_with_softmax_and_argmax() -> None:
    model, split = tiny_mlp(), _split()
    p = predict(model, split, batch_size=7)
    with torch.no_grad():
        want = model(split.inputs).numpy()
    np.testing.assert_allclose(p.scores, want, rtol=1e-5, atol=1e-6)
    assert p.scores.dtype == np.float32 and p.kind == "multiclass" and p.method == "dense"
    np.testing.assert_array_equal(p.pred, want.argmax(axis=1))
    # probs are the softmax of the returned scores (batched and whole-set forwards of float32
    # differ in the last bits, so compare with the scores the prediction holds).
    np.testing.assert_allclose(
        p.probs, torch.softmax(torch.from_numpy(p.scores).double(), 1).numpy(), rtol=1e-12
    )
    assert p.split_fingerprint == split.fingerprint
    assert p.metadata["device"] == "cpu" and p.metadata["batch_size"] == 7
    # Subsets keep split order: predictions of a subset are the matching rows.
    rows = np.array([5, 3, 150])
    sub = predict(model, split.subset(rows), batch_size=2)
    np.testing.assert_allclose(sub.scores, want[rows], rtol=1e-5, atol=1e-6)


def test_train_mode_rng_and_deterministic_flags_are_restored() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    model[1].eval()  # a mixed state must come back as it was
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    flag = torch.are_deterministic_algorithms_enabled()
    p = predict(model, _split())
    assert model.training and not model[1].training and model[0].training
    assert torch.rand(1).item() == expected_next.item()
    assert torch.are_deterministic_algorithms_enabled() == flag
    # Dropout is off during evaluation: two runs agree exactly.
    np.testing.assert_array_equal(p.scores, predict(model, _split()).scores)


def test_variant_predictions_are_named_by_their_method() -> None:
    variant = compress(tiny_mlp(), "uniform-int8")
    p = predict(variant, _split())
    assert p.method == "uniform-int8"
    assert p.metadata["compression"]["method_id"] == "uniform-int8"


def test_binary_single_logit_uses_sigmoid_and_threshold() -> None:
    task = ClassificationTask("binary", threshold=0.7)
    pred, probs = task.finalize(np.array([[0.0], [1.0], [-3.0]], dtype=np.float32))
    p1 = 1 / (1 + np.exp(-np.array([0.0, 1.0, -3.0])))
    np.testing.assert_allclose(probs[:, 1], p1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_array_equal(pred, (p1 >= 0.7).astype(int))


def test_binary_two_logits_threshold_applies_to_class_one_probability() -> None:
    logits = np.array([[0.0, 0.5], [0.0, 2.0], [1.0, 0.0]], dtype=np.float32)
    pred, probs = ClassificationTask("binary", threshold=0.7).finalize(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    # p1 = 0.62, 0.88, 0.27: only the second reaches 0.7 (argmax would also take the first).
    np.testing.assert_array_equal(pred, [0, 1, 0])
    default, _ = ClassificationTask("binary").finalize(logits)
    np.testing.assert_array_equal(default, logits.argmax(axis=1))


def test_binary_from_split_kind_and_two_logits() -> None:
    model = tiny_mlp(n_out=2)
    p = predict(model, _split(n_classes=2))
    assert p.kind == "binary" and p.probs.shape == (200, 2)
    np.testing.assert_array_equal(p.pred, p.scores.argmax(axis=1))


def test_multilabel_thresholds_per_label() -> None:
    task = ClassificationTask("multilabel", threshold=[0.5, 0.9])
    scores = np.array([[1.0, 1.0], [-1.0, 3.0]], dtype=np.float32)
    pred, _probs = task.finalize(scores)
    np.testing.assert_array_equal(pred, [[1, 0], [0, 1]])
    with pytest.raises(InputError, match="threshold has 2 values but the model emits 3 labels"):
        task.finalize(np.zeros((1, 3), dtype=np.float32))


class _HFLike(nn.Module):
    def __init__(self, style: str) -> None:
        super().__init__()
        self.lin = tiny_mlp()
        self.style = style

    def forward(self, x: torch.Tensor) -> Any:
        out = self.lin(x)
        if self.style == "logits":
            return SimpleNamespace(logits=out, hidden=None)
        if self.style == "tuple":
            return (out, x)
        return {"scores": out}


@pytest.mark.parametrize(
    ("style", "output"),
    [("logits", None), ("tuple", None), ("dict", "scores"), ("dict", lambda o: o["scores"])],
)
def test_output_forms(style: str, output: Any) -> None:
    split = _split()
    p = predict(_HFLike(style), split, task=ClassificationTask(output=output))
    np.testing.assert_array_equal(p.pred, predict(tiny_mlp(), split).pred)


def test_unreadable_output_says_how_to_pick_the_logits() -> None:
    with pytest.raises(
        InputError,
        match=r"cannot read logits from a dict output; pass ClassificationTask\(output='key'\)",
    ):
        predict(_HFLike("dict"), _split())


def test_fingerprints_change_with_every_setting() -> None:
    prints = {
        ClassificationTask().fingerprint(),
        ClassificationTask("binary").fingerprint(),
        ClassificationTask("binary", threshold=0.6).fingerprint(),
        ClassificationTask("multilabel", threshold=[0.5, 0.6]).fingerprint(),
        ClassificationTask(output="logits").fingerprint(),
    }
    assert len(prints) == 5
    assert ClassificationTask("binary").fingerprint() == ClassificationTask("binary").fingerprint()


def test_an_output_picker_is_known_by_its_code_not_its_name() -> None:
    # Both are "<lambda>": the old fingerprint named them alike and served one's predictions
    # for the other (issue 11 #2).
    def task(pick: Any) -> str:
        return ClassificationTask("binary", output=pick).fingerprint()

    assert task(lambda out: out[0]) != task(lambda out: out[1])
    first = lambda out: out[0]  # noqa: E731
    assert task(first) == task(first)


def test_bad_task_settings() -> None:
    with pytest.raises(InputError, match="kind must be one of 'auto'"):
        ClassificationTask("regression")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"threshold must be in \(0, 1\)"):
        ClassificationTask(threshold=1.5)


def test_to_device_moves_nested_tensors() -> None:
    from transformers import BatchEncoding

    batch = {"a": torch.ones(2), "b": (torch.zeros(1), [torch.ones(1)]), "c": "text"}
    moved = to_device(batch, torch.device("cpu"))
    assert moved["c"] == "text" and torch.equal(moved["b"][1][0], torch.ones(1))
    enc = to_device(BatchEncoding({"input_ids": torch.ones(1, 3)}), torch.device("cpu"))
    assert set(enc) == {"input_ids"}


def test_noise_floor_is_recorded_and_detects_nondeterminism() -> None:
    split = _split(400)
    p = predict(tiny_mlp(), split, noise_check=64)
    assert p.metadata["noise_floor"] == {
        "n": 64,
        "flip_rate": 0.0,
        "max_abs_diff": 0.0,
        "first_rerun": {"rows": 64, "bitwise_identical": True},
    }
    assert predict(tiny_mlp(), split, noise_check=0).metadata["noise_floor"] is None

    class Noisy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.rand(len(x), 3)

    floor = predict(Noisy(), split, noise_check=100).metadata["noise_floor"]
    assert floor["n"] == 100 and 0.3 < floor["flip_rate"] <= 1.0 and floor["max_abs_diff"] > 0


class _Noisy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + 1e-3 * torch.rand(len(x), 3)


def test_the_automatic_noise_check_of_a_cpu_float_model_reruns_one_batch() -> None:
    """Issue 14: a float model on the CPU reruns bitwise identically, so its automatic noise
    check (5% of the split, at most 256 rows) stops after one batch that shows it; a model
    whose rerun differs, and a quantized kernel, get the whole check."""
    split = _split(6000)  # the automatic check: 256 rows
    floor = predict(tiny_mlp(), split, batch_size=32).metadata["noise_floor"]
    assert floor["n"] == 32 and floor["first_rerun"] == {"rows": 32, "bitwise_identical": True}
    assert floor["flip_rate"] == 0.0

    noisy = predict(_Noisy(), split, batch_size=32).metadata["noise_floor"]
    assert noisy["n"] == 256 and noisy["first_rerun"]["bitwise_identical"] is False
    assert noisy["max_abs_diff"] > 0

    int8 = compress(tiny_mlp(), "torch-dynamic-int8")
    assert predict(int8, split, batch_size=32).metadata["noise_floor"]["n"] == 256


def test_progress_bar_on_request_and_quiet_under_ci(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluate, "_bar", _eager_bar)
    predict(tiny_mlp(), _split(), progress=True)
    assert "fairquant dense" in capsys.readouterr().err
    monkeypatch.setenv("CI", "true")
    predict(tiny_mlp(), _split())
    assert capsys.readouterr().err == ""


def _eager_bar(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr)


# ------------------------------------------------------------------------ bad input


def test_split_without_inputs() -> None:
    split = DemographicSplit([0, 1], {"g": ["a", "b"]}, name="labels-only")
    with pytest.raises(EvaluationError) as err:
        predict(tiny_mlp(), split)
    assert str(err.value) == MSG_NO_INPUTS.format(name="labels-only")


def test_inputs_that_do_not_fit_the_model_name_split_shape_and_error() -> None:
    x = torch.zeros(10, 5)
    split = random_split(x, name="wrong-width")
    with pytest.raises(EvaluationError) as err:
        predict(tiny_mlp(), split, batch_size=4)
    text = str(err.value)
    assert "split 'wrong-width'" in text and "(4, 5) torch.float32" in text
    assert "RuntimeError" in text and "check that the split's inputs" in text
    ints = random_split(torch.zeros(10, 4, dtype=torch.long), name="ints")
    with pytest.raises(EvaluationError, match=r"inputs \(10, 4\) torch.int64"):
        predict(tiny_mlp(), ints, batch_size=10)


def test_model_on_meta_device() -> None:
    with torch.device("meta"):
        model = tiny_mlp()
    with pytest.raises(EvaluationError) as err:
        predict(model, _split())
    assert str(err.value) == MSG_META


def test_pinned_model_asked_to_run_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    variant = compress(tiny_mlp(), "torch-dynamic-int8")
    monkeypatch.setattr(evaluate, "resolve_device", lambda device: torch.device("cuda", 0))
    with pytest.raises(EvaluationError) as err:
        predict(variant, _split(), device="cuda:0")
    assert str(err.value) == MSG_DEVICE_MISMATCH.format(
        actual="cpu",
        requested="cuda:0",
        why=MSG_PINNED.format(backend="torch.ao quantized"),
        suggest="cpu",
    )


def test_bad_batch_size() -> None:
    with pytest.raises(InputError) as err:
        predict(tiny_mlp(), _split(), batch_size=0)
    assert str(err.value) == MSG_BATCH_SIZE.format(value=0)


class _MemoryHungry(nn.Module):
    """Runs batches of at most ``limit`` samples; larger ones fail like an allocator would."""

    def __init__(self, limit: int, error: type[BaseException] | None = None) -> None:
        super().__init__()
        self.inner = tiny_mlp()
        self.limit = limit
        self.error = error
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(x))
        if len(x) > self.limit:
            if self.error is torch.cuda.OutOfMemoryError:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: can't allocate memory"
            )
        return self.inner(x)


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError, RuntimeError])
def test_out_of_memory_halves_the_batch_and_retries(error: type[BaseException]) -> None:
    split = _split(50)
    model = _MemoryHungry(limit=10, error=error)
    p = predict(model, split, batch_size=64, noise_check=0)
    assert p.metadata["batch_size_used"] == 8 and p.metadata["batch_size"] == 64
    np.testing.assert_array_equal(p.pred, predict(tiny_mlp(), split).pred)


def test_out_of_memory_at_batch_size_one_is_a_clear_error() -> None:
    with pytest.raises(EvaluationError) as err:
        predict(_MemoryHungry(limit=0, error=torch.cuda.OutOfMemoryError), _split(20), batch_size=8)
    assert str(err.value) == MSG_OOM.format(name="random", device="cpu", tried=[8, 4, 2, 1])


def test_non_finite_outputs_say_how_many_and_where() -> None:
    class Fragile(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = x[:, :3].clone()
            out[x[:, 0] > 1.5] = float("nan")
            return out

    split = _split(200)
    bad = int((split.inputs[:, 0] > 1.5).sum())
    first = int(np.flatnonzero(split.inputs[:, 0].numpy() > 1.5)[0])
    with pytest.raises(NonFiniteOutputs) as err:
        predict(Fragile(), split, batch_size=16)
    assert err.value.count == bad and err.value.first == first and err.value.batch == first // 16
    assert f"NaN/inf scores for {bad} of 200 samples of split 'random'" in str(err.value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_model_visits_cuda_and_comes_back() -> None:
    model = tiny_mlp()
    p = predict(model, _split(), device="auto", amp="bf16")
    assert p.metadata["device"].startswith("cuda") and p.metadata["amp"] == "bf16"
    assert next(model.parameters()).device.type == "cpu"
